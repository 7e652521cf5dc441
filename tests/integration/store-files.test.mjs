// The SQLite files under a running server (docs/OPERATIONS.md, "When the store's files fail"):
// - made immutable (chattr +i, as root; the tests run as root, which writes through file
//   permissions; all but SQLite's memory-mapped -shm, see below): every send is refused with store_unavailable, and /healthz answers 503
//   degraded with parley_store_up 0 for as long as writes fail, not just until the next read
//   succeeds; once the files are writable again the writer's probe (a write) brings it back to
//   200 with no traffic, and the refused message goes through with the next id.
// - the database's directory deleted: noticed without a send (the maintainer's tick), logged
//   loudly, every write refused (a message, a registration), and a copy of everything the server
//   held put back at the database's path, so that after a restart nothing any client saw is
//   lost and ids continue instead of starting again at 1.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer, request, metricValue, sleep, fileTimeout } from './server.mjs';
import { fetchAllHistory, poll, range } from './postgres.mjs';

fileTimeout(150000);

const dirs = [];
function tempDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-files-'));
  dirs.push(d);
  return d;
}
const chattr = (flag, files) => execFileSync('chattr', [flag, ...files], { stdio: 'pipe' });
after(() => {
  for (const d of dirs) {
    // An immutable file cannot be deleted, even by root: undo before removing.
    try { execFileSync('chattr', ['-R', '-i', d], { stdio: 'ignore' }); } catch { /* gone */ }
    fs.rmSync(d, { recursive: true, force: true });
  }
});

const sent = (c, what) => c.next((f) => f.type === 'message' || f.type === 'error', 8000, what);
const storeUp = async (srv) => metricValue(await srv.metrics(), 'parley_store_up');
function register(port, username, password) {
  return request(port, '/api/register', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
}

test('files made immutable: sends refused, 503 degraded and parley_store_up 0 until a write succeeds; writable again: 200 on its own, ids continue', { timeout: 60000 }, async (t) => {
  const dir = tempDir();
  const srv = await startServer({ args: ['--db', `sqlite:${path.join(dir, 'parley.db')}`] });
  try {
    const ann = await srv.connect('rock', 'Ann');
    ann.send({ content: 'one' });
    assert.equal((await sent(ann, 'one')).id, 1);
    // Every file the server writes with write(2): the database, its WAL and the inbox logs. Not
    // SQLite's -shm, which it maps into memory: a store into a mapped page of an immutable file is
    // a SIGBUS, which ends the process (the kernel has no error code to give there).
    const files = fs.readdirSync(dir).filter((f) => !f.endsWith('-shm')).map((f) => path.join(dir, f));
    assert.equal(files.length, 4, `parley.db, -wal, -inbox-0 and -inbox-1: ${files}`);
    try {
      chattr('+i', files);
    } catch (e) {
      t.skip(`chattr +i is not possible here (${e.message.split('\n')[0]}): needs root on ext4, xfs or btrfs`);
      return;
    }
    try {
      ann.send({ content: 'two', client_id: 'c2' });
      const refused = await sent(ann, 'two while immutable');
      assert.equal(refused.type, 'error', refused.raw);
      assert.equal(refused.code, 'store_unavailable', refused.raw);
      // The writer probes once a second while unhealthy. A read (SELECT 1) succeeded here and
      // turned /healthz back to 200 while every send still failed: the probe must be a write.
      await sleep(2500);
      const h = await request(srv.port, '/healthz');
      assert.equal(h.status, 503, h.body);
      assert.equal(h.json.status, 'degraded', h.body);
      assert.equal(h.json.store.ok, false, h.body);
      assert.match(h.json.store.error, /not permitted/i, h.body);
      assert.equal(await storeUp(srv), 0);
      ann.send({ content: 'three' });
      assert.equal((await sent(ann, 'three while immutable')).code, 'store_unavailable');
    } finally {
      chattr('-i', files);
    }
    // Writable again: healthy within a probe or two, with no traffic at all.
    const back = await poll(() => request(srv.port, '/healthz'), (r) => r.status === 200, 10000, 200);
    assert.equal(back.status, 200, back.body);
    assert.equal(back.json.store.ok, true, back.body);
    assert.equal(await storeUp(srv), 1);
    ann.send({ content: 'two', client_id: 'c2' });
    const two = await sent(ann, 'two once writable');
    assert.equal(two.type, 'message', two.raw);
    assert.equal(two.id, 2, two.raw);
    const stored = await fetchAllHistory(srv.port, 'rock');
    assert.deepEqual(stored.map((m) => m.content), ['one', 'two']);
    await ann.close();
  } finally {
    await srv.stop();
  }
});

test('directory deleted under the server: noticed and logged, writes refused, and a restart loses nothing anyone saw (ids go on)', { timeout: 60000 }, async () => {
  const data = path.join(tempDir(), 'data');
  const db = path.join(data, 'parley.db');
  const args = ['--db', `sqlite:${db}`];
  let srv = await startServer({ args });
  const seen = [];
  try {
    assert.equal((await register(srv.port, 'Zoe', 'zoe password')).status, 201);
    const ann = await srv.connect('gone', 'Ann');
    const bob = await srv.connect('gone', 'Bob');
    for (const c of ['one', 'two', 'three']) ann.send({ content: c, client_id: c });
    seen.push(...await bob.messages(3, 5000));
    // Those three reach the database file (the maintainer's ingest, about once a second); the
    // next two still wait in the inbox log when the directory goes.
    const ingested = await poll(() => srv.healthz(), (h) => h.store.waiting === 0, 5000, 100);
    assert.equal(ingested.store.waiting, 0, JSON.stringify(ingested));
    for (const c of ['four', 'five']) ann.send({ content: c });
    seen.push(...await bob.messages(2, 5000));
    assert.deepEqual(seen.map((m) => m.id), range(1, 5));
    await ann.messages(5, 5000);

    fs.rmSync(data, { recursive: true, force: true });

    // Noticed with no send at all: the maintainer checks the files on its tick.
    const h = await poll(() => request(srv.port, '/healthz'), (r) => r.status === 503, 5000, 100);
    assert.equal(h.status, 503, `still ${h.status} after the directory was deleted: ${h.body}`);
    assert.equal(h.json.status, 'degraded', h.body);
    assert.match(h.json.store.error, /was deleted/, h.body);
    assert.equal(await storeUp(srv), 0);
    const logged = await poll(async () => srv.output(), (out) => /ALERT.*saved/.test(out), 5000);
    assert.match(logged, /ALERT: .*parley\.db was deleted/, logged);

    // Nothing is acknowledged into a file nobody will open again.
    ann.send({ content: 'after', client_id: 'late' });
    const refused = await sent(ann, 'a send after the deletion');
    assert.equal(refused.type, 'error', refused.raw);
    assert.equal(refused.code, 'store_unavailable', refused.raw);
    assert.equal(refused.client_id, 'late');
    const late = await register(srv.port, 'Yan', 'yan password');
    assert.equal(late.status, 503, late.body);
    await sleep(300);
    assert.deepEqual(bob.queue.filter((f) => f.type === 'message'), [], 'Bob got something after the deletion');
    assert.ok(fs.existsSync(db), 'a copy of the database is back at its path');
    await Promise.all([ann.close(), bob.close()]);
  } finally {
    await srv.stop();
  }

  srv = await startServer({ args });
  try {
    const stored = await fetchAllHistory(srv.port, 'gone');
    assert.deepEqual(stored.map((m) => [m.id, m.content, m.username]), seen.map((m) => [m.id, m.content, m.username]));
    const cat = await srv.connect('gone', 'Cat');
    cat.send({ content: 'six' });
    const six = await sent(cat, 'the first send after the restart');
    assert.equal(six.id, 6, six.raw);
    const zoe = await request(srv.port, '/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'zoe', password: 'zoe password' }),
    });
    assert.equal(zoe.status, 200, `the account registered before the deletion: ${zoe.body}`);
    await cat.close();
  } finally {
    await srv.stop();
  }
});
