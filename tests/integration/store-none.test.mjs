// --db none: no history is kept. No history frame on join, messages are still delivered with
// ids +1 per room, paging answers an empty list (over WS and HTTP), /healthz reports the kind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, sleep, fileTimeout } from './server.mjs';
import { getPage } from './postgres.mjs';

fileTimeout(30000);

let srv;
before(async () => { srv = await startServer({ args: ['--db', 'none'] }); });
after(async () => { await srv?.stop(); });

test('--db none: no join history, live delivery, empty paging', { timeout: 15000 }, async () => {
  const ann = await srv.connect('nodb', 'Ann', { keepHistory: true });
  for (const c of ['one', 'two', 'three']) ann.send({ content: c });
  const sent = await ann.take(3, (f) => f.type === 'message', 5000, 'three messages');
  assert.deepEqual(sent.map((m) => m.id), [1, 2, 3]);

  const bob = await srv.connect('nodb', 'Bob', { keepHistory: true });
  await sleep(300);
  assert.equal(bob.received.filter((f) => f.type === 'history').length, 0,
    `a history frame on join with --db none: ${JSON.stringify(bob.received)}`);
  assert.equal(ann.received.filter((f) => f.type === 'history').length, 0, JSON.stringify(ann.received));

  ann.send({ content: 'four', client_id: 'n1' });
  const [a4, b4] = await Promise.all([ann, bob].map((c) => c.next((f) => f.type === 'message', 5000, 'four')));
  assert.equal(a4.id, 4);
  assert.equal(b4.raw, a4.raw);
  assert.equal(a4.client_id, 'n1');

  bob.send({ type: 'history', limit: 10 });
  const page = await bob.next((f) => f.type === 'history' || f.type === 'error', 5000, 'the paging answer');
  assert.equal(page.type, 'history', page.raw);
  assert.deepEqual(page.messages, []);
  assert.equal(page.has_more, false);

  const r = await getPage(srv.port, 'nodb');
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json, { messages: [], has_more: false });
  const r2 = await getPage(srv.port, 'nodb', { before: 3, limit: 2 });
  assert.equal(r2.status, 200, r2.body);
  assert.deepEqual(r2.json.messages, []);

  const h = await request(srv.port, '/healthz');
  assert.equal(h.status, 200, h.body);
  assert.equal(h.json?.store?.kind, 'none', h.body);
  assert.equal(h.json?.store?.ok, true, h.body);
  assert.equal(h.json.store.waiting, undefined, h.body);
  await Promise.all([ann.close(), bob.close()]);
});
