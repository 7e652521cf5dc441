// Message rate limits across connections (issue 17, finding 7): one user's connections share a
// bucket (--max-user-message-rate), and so do one client address's (--max-address-message-rate),
// whichever shard each connection is on. Before them, each connection had its own bucket only:
// ten connections of one user sent ten times the limit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, metricValue, fileTimeout, sleep } from './server.mjs';

fileTimeout(60000);

const servers = [];
const clients = [];
after(async () => {
  for (const c of clients) c.ws.terminate();
  for (const s of servers) await s.stop();
});
async function server(args) {
  const s = await startServer({ args });
  servers.push(s);
  return s;
}
async function open(srv, room, name, opts) {
  const c = await srv.connect(room, name, opts);
  clients.push(c);
  return c;
}

// Each of `senders` sends `perSender` messages at once (each well under its own connection's
// burst); resolves {accepted, refused} as the observer and the senders see them.
async function flood(senders, perSender, observer) {
  senders.forEach((c, i) => {
    for (let k = 0; k < perSender; k++) c.send({ content: `m${i}-${k}`, client_id: `c${i}-${k}` });
  });
  await sleep(1500);
  const refused = [];
  for (const c of senders) {
    for (const f of c.queue.filter((x) => x.type === 'error')) {
      assert.equal(f.code, 'rate_limited', JSON.stringify(f));
      assert.ok(f.client_id, `the refusal names its message: ${JSON.stringify(f)}`);
      refused.push(f.client_id);
    }
  }
  const accepted = observer.queue.filter((f) => f.type === 'message').map((m) => m.client_id);
  const refusedSet = new Set(refused);
  for (const id of accepted) assert.ok(!refusedSet.has(id), `refused ${id} was delivered`);
  assert.equal(accepted.length + refused.length, senders.length * perSender,
    'every message either delivered or refused with its client_id');
  return { accepted: accepted.length, refused: refused.length };
}

test('ten connections of one user share the user\'s limit', { timeout: 30000 }, async () => {
  // Per connection 30/s (bursts of 60): 5 messages each is far under it. The user: 10/s, bursts 20.
  const srv = await server(['--max-message-rate', '30', '--max-user-message-rate', '10',
    '--max-address-message-rate', '0']);
  const observer = await open(srv, 'shared', 'Watcher');
  const ann = [];
  for (let i = 0; i < 10; i++) ann.push(await open(srv, 'shared', 'Ann'));
  const { accepted, refused } = await flood(ann, 5, observer);
  // The burst (20) plus what came back while sending (10/s over well under a second).
  assert.ok(accepted >= 20 && accepted <= 26, `accepted ${accepted}`);
  assert.ok(refused >= 24, `refused ${refused}`);
  const metrics = await srv.metrics();
  assert.equal(metricValue(metrics, 'parley_rejected_total', { reason: 'user_rate_limited' }), refused);
  assert.equal(metricValue(metrics, 'parley_rejected_total', { reason: 'rate_limited' }), 0);

  // Another user on the same server (and address) is unaffected by Ann's bucket.
  const bob = await open(srv, 'shared', 'Bob');
  observer.queue.length = 0;
  for (let k = 0; k < 10; k++) bob.send({ content: `b${k}`, client_id: `b${k}` });
  const got = await observer.messages(10, 5000);
  assert.equal(got.length, 10);
  assert.equal(bob.queue.filter((f) => f.type === 'error').length, 0);
});

test('users behind one address share the address limit; another address is unaffected',
  { timeout: 30000 }, async () => {
    const srv = await server(['--max-message-rate', '30', '--max-user-message-rate', '30',
      '--max-address-message-rate', '10']);
    const observer = await open(srv, 'office', 'Watcher', { wsOptions: { localAddress: '127.0.0.3' } });
    const office = [];
    for (let i = 0; i < 10; i++) office.push(await open(srv, 'office', `Clerk${i}`));
    const { accepted, refused } = await flood(office, 5, observer);
    assert.ok(accepted >= 20 && accepted <= 26, `accepted ${accepted}`);
    assert.ok(refused >= 24, `refused ${refused}`);
    assert.equal(metricValue(await srv.metrics(), 'parley_rejected_total', { reason: 'address_rate_limited' }), refused);

    // Right after, while 127.0.0.1's bucket is empty, a user from 127.0.0.2 sends 15 at once.
    const far = await open(srv, 'office', 'Faraway', { wsOptions: { localAddress: '127.0.0.2' } });
    observer.queue.length = 0;
    for (let k = 0; k < 15; k++) far.send({ content: `f${k}`, client_id: `f${k}` });
    const got = await observer.messages(15, 5000);
    assert.equal(got.length, 15);
    assert.equal(far.queue.filter((f) => f.type === 'error').length, 0);
    // And the office is still refused at that moment (its bucket refills at 10/s).
    for (let k = 0; k < 30; k++) office[0].send({ content: `again${k}`, client_id: `again${k}` });
    const errors = await office[0].take(5, (f) => f.type === 'error', 5000, 'refusals');
    for (const e of errors) assert.equal(e.code, 'rate_limited');
  });
