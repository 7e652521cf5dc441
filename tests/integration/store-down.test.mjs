// The store goes away under a running server (PostgreSQL stopped with pg_ctl stop -m fast):
// a message is refused with store_unavailable (to its sender alone, with its client_id, delivered
// to no one, no id used), /healthz says 503 degraded, and once PostgreSQL is back the server
// recovers on its own: /healthz 200 again, and new messages are stored and delivered with ids that
// continue the sequence without a gap (docs/PROTOCOL.md "error", "HTTP endpoints").
//
// PostgreSQL only. The SQLite equivalent (making the database file unwritable) is not practical:
// the tests run as root, and root writes through file permissions; a read-only bind mount or a
// full disk would need privileges or set-up beyond a test file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, sleep, fileTimeout } from './server.mjs';
import { startPostgres, fetchAllHistory, wsPath, getPage, poll, range } from './postgres.mjs';

fileTimeout(90000);

let pg;
let srv;
before(async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase();
  srv = await startServer({ args: ['--db', url] });
});
after(async () => {
  await srv?.stop();
  await pg?.stop();
});

const ours = (f) => ['message', 'history', 'error', 'resume_truncated'].includes(f.type);

test('PostgreSQL stopped: store_unavailable to the sender only, /healthz 503; restarted: recovery, ids continue', { timeout: 60000 }, async () => {
  const ann = await srv.connect('down', 'Ann');
  const bob = await srv.connect('down', 'Bob');
  const cat = await srv.connect('down', 'Cat');
  for (const c of ['one', 'two', 'three']) ann.send({ content: c });
  const before3 = await ann.messages(3, 5000);
  await Promise.all([bob.messages(3), cat.messages(3)]);
  assert.deepEqual(before3.map((m) => m.id), [1, 2, 3]);
  const h0 = await request(srv.port, '/healthz');
  assert.equal(h0.status, 200, h0.body);
  assert.deepEqual(h0.json.store, { kind: 'postgres', ok: true, waiting: 0 }, h0.body); // no inbox: nothing waits

  await pg.pause();

  // The message cannot be stored: an error to the sender, nothing to anyone.
  ann.send({ content: 'x', client_id: 'a1' });
  const err = await ann.next((f) => f.type === 'error' || f.type === 'message', 8000, 'store_unavailable for a1');
  assert.equal(err.type, 'error', `got ${err.raw}`);
  assert.equal(err.code, 'store_unavailable', err.raw);
  assert.equal(err.client_id, 'a1', err.raw);
  assert.equal(typeof err.message, 'string');
  // And a second one (no client_id) while it is still down.
  ann.send({ content: 'y' });
  const err2 = await ann.next((f) => f.type === 'error' || f.type === 'message', 8000, 'store_unavailable for y');
  assert.equal(err2.code, 'store_unavailable', err2.raw);
  assert.equal(err2.client_id, undefined, err2.raw);

  const h1 = await request(srv.port, '/healthz');
  assert.equal(h1.status, 503, h1.body);
  assert.equal(h1.json?.status, 'degraded', h1.body);
  assert.equal(h1.json?.store?.kind, 'postgres', h1.body);
  assert.equal(h1.json?.store?.ok, false, h1.body);
  assert.equal(typeof h1.json?.store?.error, 'string', h1.body);

  // Reads fail too: HTTP paging 503 store_unavailable, a joining client gets history_unavailable
  // and still receives live traffic.
  const page = await getPage(srv.port, 'down');
  assert.equal(page.status, 503, page.body);
  assert.equal(page.json?.error, 'store_unavailable', page.body);
  const rooms = await request(srv.port, '/api/rooms');
  assert.equal(rooms.json?.complete, false, `GET /api/rooms while the store is down: ${rooms.status} ${rooms.body}`);
  assert.equal(rooms.json.rooms.find((r) => r.room === 'down')?.members, 3, `rooms with members are still listed: ${rooms.body}`);
  const dan = await srv.connect('down', 'Dan', { keepHistory: true });
  const dj = await dan.next(ours, 8000, 'the join answer while the store is down');
  assert.equal(dj.type, 'error', dj.raw);
  assert.equal(dj.code, 'history_unavailable', dj.raw);

  await sleep(500);
  for (const [name, c] of [['Bob', bob], ['Cat', cat]]) {
    assert.deepEqual(c.queue.filter(ours), [], `${name} got something while the store was down: ${JSON.stringify(c.queue.filter(ours))}`);
  }
  assert.deepEqual(ann.queue.filter(ours), [], `Ann got more than the two errors: ${JSON.stringify(ann.queue.filter(ours))}`);

  await pg.resume();

  // Recovery on its own (the writer probes the store while unhealthy), with no traffic.
  const t0 = Date.now();
  const h2 = await poll(() => request(srv.port, '/healthz'), (r) => r.status === 200, 10000, 200);
  assert.equal(h2.status, 200, `still ${h2.status} ${Date.now() - t0} ms after PostgreSQL came back: ${h2.body}`);
  assert.deepEqual(h2.json.store, { kind: 'postgres', ok: true, waiting: 0 }, h2.body);

  // The refused message, sent again, is stored now: the next id, no gap.
  ann.send({ content: 'x', client_id: 'a1' });
  const got = await Promise.all([ann, bob, cat, dan].map((c) => c.next((f) => f.type === 'message' || f.type === 'error', 10000, 'a1 after the recovery')));
  for (const m of got) {
    assert.equal(m.type, 'message', m.raw);
    assert.equal(m.id, 4, m.raw);
    assert.equal(m.client_id, 'a1');
    assert.equal(m.raw, got[0].raw);
  }
  ann.send({ content: 'z' });
  const z = await bob.next((f) => f.type === 'message', 5000, 'z');
  assert.equal(z.id, 5, z.raw);

  const stored = await fetchAllHistory(srv.port, 'down');
  assert.deepEqual(stored.map((m) => m.id), range(1, 5), 'stored ids are contiguous');
  assert.deepEqual(stored.map((m) => m.content), ['one', 'two', 'three', 'x', 'z']);

  // A client resuming now gets the replay again.
  const eve = await srv.connect('down', 'Eve', { path: wsPath('down', 'Eve', 2), keepHistory: true });
  const replay = await eve.next(ours, 5000, 'the replay after the recovery');
  assert.equal(replay.type, 'history', replay.raw);
  assert.deepEqual(replay.messages.map((m) => m.id), [3, 4, 5]);
  await Promise.all([ann, bob, cat, dan, eve].map((c) => c.close()));
});
