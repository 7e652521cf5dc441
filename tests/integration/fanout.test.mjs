// Fan-out: 1,000 members of one room, 5 of them send a burst of 20 each; everyone gets all 100
// exactly once, in one order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sleep, fileTimeout } from './server.mjs';
import { connectMany } from './client.mjs';

fileTimeout(90000);

const CLIENTS = 1000;
const SENDERS = 5;
const BURST = 20;
const TOTAL = SENDERS * BURST;

let srv;
let clients = [];
before(async () => { srv = await startServer({ args: ['--max-connections', '5000'] }); });
after(async () => {
  for (const c of clients) c?.ws.terminate();
  await srv?.stop();
});

test(`${CLIENTS} clients, ${SENDERS} senders x ${BURST} messages`, { timeout: 60000 }, async (t) => {
  const t0 = Date.now();
  clients = await connectMany(srv.port, 'crowd', CLIENTS, { concurrency: 100 });
  const tOpen = Date.now();

  const health = await srv.waitHealth((h) => h?.connections === CLIENTS);
  assert.equal(health.connections, CLIENTS, `healthz: ${JSON.stringify(health)}`);

  const senders = clients.slice(0, SENDERS);
  senders.forEach((s, si) => {
    for (let i = 0; i < BURST; i++) s.send({ content: `s${si}-m${i}` });
  });

  const got = await Promise.all(clients.map((c) => c.messages(TOTAL, 30000)));
  const tDone = Date.now();

  const reference = got[0].map((m) => `${m.id}|${m.username}|${m.content}`);
  // All 100, exactly once, ids 1..100.
  assert.deepEqual(got[0].map((m) => m.id), Array.from({ length: TOTAL }, (_, i) => i + 1));
  const expected = [];
  for (let si = 0; si < SENDERS; si++) for (let i = 0; i < BURST; i++) expected.push(`s${si}-m${i}`);
  assert.deepEqual(got[0].map((m) => m.content).sort(), expected.sort());
  // Each sender's messages in its own sending order, with its own username.
  for (let si = 0; si < SENDERS; si++) {
    const mine = got[0].filter((m) => m.content.startsWith(`s${si}-`));
    assert.deepEqual(mine.map((m) => m.content), Array.from({ length: BURST }, (_, i) => `s${si}-m${i}`));
    assert.ok(mine.every((m) => m.username === `u${si}`));
  }
  // Same order for everyone.
  for (let i = 1; i < got.length; i++) {
    const seq = got[i].map((m) => `${m.id}|${m.username}|${m.content}`);
    if (seq.join('\n') !== reference.join('\n')) assert.deepEqual(seq, reference, `client ${i} saw another order`);
  }
  // Exactly once: nothing more arrives.
  await sleep(300);
  const extra = clients.findIndex((c) => c.queue.length > 0);
  assert.equal(extra, -1, extra >= 0 ? `client ${extra} got extra frames: ${JSON.stringify(clients[extra].queue).slice(0, 300)}` : '');
  const closed = clients.findIndex((c) => c.closeInfo);
  assert.equal(closed, -1, closed >= 0 ? `client ${closed} closed: ${JSON.stringify(clients[closed].closeInfo)}` : '');

  t.diagnostic(`opened ${CLIENTS} in ${tOpen - t0} ms, delivered ${TOTAL} x ${CLIENTS} in ${tDone - tOpen} ms`);
});
