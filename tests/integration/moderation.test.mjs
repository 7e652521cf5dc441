// Edits and deletes (issue 18): the author (signed in) edits and deletes their own messages;
// every member of the room, on every shard and on both endpoints, sees `edited` / `deleted`;
// history (join history, the `since` replay, REST paging) shows the edit with `edited_at` and a
// deleted message as a tombstone with its id; refusals are said to the asker alone. Against
// SQLite and PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, fileTimeout } from './server.mjs';
import { sqliteFactory, postgresFactory, getPage, poll } from './postgres.mjs';

fileTimeout(60000);

const SECRET = 'm'.repeat(40);

async function register(port, username) {
  const r = await request(port, '/api/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'correct horse' }),
  });
  assert.equal(r.status, 201, r.body);
  return r.json.token;
}

function rest(port, method, path, { token, body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return request(port, path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

for (const factory of [sqliteFactory(), postgresFactory()]) {
  describe(`edits and deletes on ${factory.name}`, () => {
    let server;
    let alice;
    let bob;
    before(async () => {
      await factory.init();
      const db = await factory.newDb();
      // Two shards: the members below land on both (and on both endpoints).
      server = await startServer({ args: [...db.args, '--jwt-secret', SECRET, '--threads', '2'] });
      alice = await register(server.port, 'Alice');
      bob = await register(server.port, 'Bob');
    });
    after(async () => {
      await server?.stop();
      await factory.close();
    });

    test('the author edits and deletes; every member sees it; history shows it', { timeout: 20000 }, async () => {
      const room = 'mod';
      const a = await server.connect(room, 'Alice', { path: `/ws/${room}?token=${alice}` });
      const b = await server.connect(room, undefined, { path: `/ws?token=${bob}` });
      b.send({ type: 'subscribe', room });
      await poll(() => b.events.some((f) => f.type === 'presence'), (ok) => ok);
      const guests = [];
      for (let i = 0; i < 3; i++) guests.push(await server.connect(room, `guest${i}`));
      const everyone = [a, b, ...guests];

      a.send({ content: 'first', client_id: 'a-1' });
      a.send({ content: 'second' });
      // (After Alice's two are in: connections on two shards have no order between them.)
      for (const c of everyone) await c.messages(2);
      guests[0].send({ content: 'a guest says' });
      for (const c of everyone) await c.messages(1);

      a.send({ type: 'edit', id: 1, content: 'first, fixed' });
      for (const c of everyone) {
        const e = await c.next((f) => f.type === 'edited', 5000, 'edited');
        assert.equal(e.id, 1);
        assert.equal(e.content, 'first, fixed');
        assert.equal(e.room, room);
        assert.match(e.edited_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
      // On /ws a frame names its room.
      b.send({ type: 'delete', room, id: 2 });
      const refused = await b.nextError();
      assert.deepEqual({ code: refused.code, id: refused.id, room: refused.room },
        { code: 'not_allowed', id: 2, room });
      // A name without a token proves nothing (--auth open).
      guests[0].send({ type: 'delete', id: 3 });
      assert.equal((await guests[0].nextError()).code, 'not_allowed');
      a.send({ type: 'delete', id: 42 });
      assert.equal((await a.nextError()).code, 'not_found');

      a.send({ type: 'delete', id: 2 });
      for (const c of everyone) {
        const d = await c.next((f) => f.type === 'deleted', 5000, 'deleted');
        assert.deepEqual(d, { type: 'deleted', id: 2, room });
      }
      // Nobody got anything else meanwhile: refusals went to the asker alone.
      for (const c of guests.slice(1)) assert.equal(c.queue.length, 0, JSON.stringify(c.queue));

      // History, three ways: REST paging, a newcomer's join history, the `since` replay.
      const page = await getPage(server.port, room);
      assert.equal(page.status, 200);
      const [m1, m2, m3] = page.json.messages;
      assert.deepEqual([m1.id, m2.id, m3.id], [1, 2, 3]);
      assert.equal(m1.content, 'first, fixed');
      assert.ok(m1.edited_at);
      assert.equal(m1.client_id, 'a-1');
      assert.deepEqual({ content: m2.content, deleted: m2.deleted, username: m2.username },
        { content: '', deleted: true, username: 'Alice' });
      assert.equal(m3.deleted, undefined);
      const late = await server.connect(room, 'late');
      await poll(() => late.events.some((f) => f.type === 'presence'), (ok) => ok);
      const joined = late.history.find((f) => f.type === 'history').messages;
      assert.deepEqual(joined.map((m) => [m.id, m.content, m.deleted ?? false]),
        [[1, 'first, fixed', false], [2, '', true], [3, 'a guest says', false]]);
      const resumed = await server.connect(room, 'resumer', { path: `/ws/${room}?username=resumer&since=0` });
      await poll(() => resumed.events.some((f) => f.type === 'presence'), (ok) => ok);
      const replay = resumed.history.filter((f) => f.type === 'history').flatMap((f) => f.messages);
      assert.deepEqual(replay, joined);
      for (const c of [...everyone, late, resumed]) await c.close();
    });

    test('REST PATCH and DELETE: the author with a token; refusals with their codes', { timeout: 15000 }, async () => {
      const room = 'rest';
      const a = await server.connect(room, 'Alice', { path: `/ws/${room}?token=${alice}` });
      const watcher = await server.connect(room, 'watcher');
      a.send({ content: 'hello' });
      a.send({ content: 'bye' });
      await watcher.messages(2);
      const path = (id) => `/api/rooms/${room}/messages/${id}`;

      let r = await rest(server.port, 'PATCH', path(1), { token: alice, body: { content: 'hello again' } });
      assert.deepEqual([r.status, r.json], [200, { id: 1 }]);
      const e = await watcher.next((f) => f.type === 'edited', 5000, 'edited');
      assert.equal(e.content, 'hello again');

      r = await rest(server.port, 'DELETE', path(1), { token: bob });
      assert.deepEqual([r.status, r.json.error], [403, 'not_allowed']);
      r = await rest(server.port, 'PATCH', path(2), { token: bob, body: { content: 'x' } });
      assert.deepEqual([r.status, r.json.error], [403, 'not_allowed']);
      r = await rest(server.port, 'DELETE', path(1));
      assert.deepEqual([r.status, r.json.error], [401, 'auth_required']);
      r = await rest(server.port, 'DELETE', path(1), { token: 'not.a.token' });
      assert.deepEqual([r.status, r.json.error], [401, 'invalid_token']);
      r = await rest(server.port, 'DELETE', path(99), { token: alice });
      assert.deepEqual([r.status, r.json.error], [404, 'not_found']);
      r = await rest(server.port, 'DELETE', path('abc'), { token: alice });
      assert.deepEqual([r.status, r.json.error], [400, 'invalid_parameter']);
      r = await rest(server.port, 'PATCH', path(1), { token: alice, body: { content: '' } });
      assert.deepEqual([r.status, r.json.error], [400, 'empty_content']);
      r = await rest(server.port, 'PATCH', path(1), { token: alice, body: { content: 'x'.repeat(4001) } });
      assert.deepEqual([r.status, r.json.error], [400, 'content_too_long']);
      r = await rest(server.port, 'PATCH', path(1), { token: alice, body: { text: 'x' } });
      assert.deepEqual([r.status, r.json.error], [400, 'invalid_message']);
      r = await rest(server.port, 'PUT', path(1), { token: alice, body: {} });
      assert.equal(r.status, 405);

      r = await rest(server.port, 'DELETE', path(2), { token: alice });
      assert.deepEqual([r.status, r.json], [200, { id: 2 }]);
      assert.deepEqual(await watcher.next((f) => f.type === 'deleted', 5000, 'deleted'), { type: 'deleted', id: 2, room });
      r = await rest(server.port, 'DELETE', path(2), { token: alice });
      assert.deepEqual([r.status, r.json.error], [404, 'not_found']);
      r = await rest(server.port, 'PATCH', path(2), { token: alice, body: { content: 'undelete' } });
      assert.deepEqual([r.status, r.json.error], [404, 'not_found']);

      const page = await getPage(server.port, room);
      assert.deepEqual(page.json.messages.map((m) => [m.id, m.content, m.deleted ?? false, Boolean(m.edited_at)]),
        [[1, 'hello again', false, true], [2, '', true, false]]);
      // New messages go on from the next id: the tombstone keeps its place.
      a.send({ content: 'after' });
      assert.equal((await watcher.nextMessage()).id, 3);
      await a.close();
      await watcher.close();
    });
  });
}

describe('edits and deletes without a store', () => {
  test('there is nothing to change: no_store', { timeout: 10000 }, async () => {
    const server = await startServer({ args: ['--db', 'none', '--jwt-secret', SECRET] });
    try {
      const token = await register(server.port, 'Alice');
      const a = await server.connect('x', 'Alice', { path: `/ws/x?token=${token}` });
      a.send({ content: 'hi' });
      await a.nextMessage();
      a.send({ type: 'delete', id: 1 });
      assert.equal((await a.nextError()).code, 'no_store');
      const r = await rest(server.port, 'DELETE', '/api/rooms/x/messages/1', { token });
      assert.deepEqual([r.status, r.json.error], [501, 'no_store']);
      await a.close();
    } finally {
      await server.stop();
    }
  });
});
