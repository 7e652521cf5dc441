// Floods: a client over --max-message-rate gets one rate_limited error per refused message (with
// its client_id), nobody receives the refused ones, and the connection and the room go on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, metricValue, sleep } from './server.mjs';

let srv;
before(async () => { srv = await startServer({ args: ['--max-message-rate', '10'] }); });
after(async () => { await srv?.stop(); });

test('a flood is refused message by message, and the room goes on', { timeout: 30000 }, async () => {
  const flooder = await srv.connect('flood', 'Flooder');
  const other = await srv.connect('flood', 'Other');
  // Burst allowance: twice the rate (20). Send 50 at once.
  for (let i = 0; i < 50; i++) flooder.send({ content: `m${i}`, client_id: `c${i}` });
  const errors = await flooder.take(30, (f) => f.type === 'error', 5000, '30 rate_limited errors');
  for (const e of errors) assert.equal(e.code, 'rate_limited', JSON.stringify(e));
  const refused = new Set(errors.map((e) => e.client_id));
  const accepted = await other.messages(20, 5000);
  assert.equal(accepted.length, 20);
  for (const m of accepted) assert.ok(!refused.has(m.client_id), `refused ${m.client_id} was delivered`);
  assert.equal(refused.size + accepted.length, 50, 'every message either delivered or refused with its client_id');
  await sleep(300);
  assert.equal(other.queue.filter((f) => f.type === 'message').length, 0, 'more than the allowance got through');
  assert.ok(metricValue(await srv.metrics(), 'parley_rejected_total', { reason: 'rate_limited' }) >= 30);

  // Tokens come back at the rate: after a second, about ten more go through.
  await sleep(1000);
  flooder.send({ content: 'after a pause' });
  const m = await other.nextMessage(3000);
  assert.equal(m.content, 'after a pause');
  assert.equal(flooder.closeInfo, null);
  await flooder.close();
  await other.close();
});
