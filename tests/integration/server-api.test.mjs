// The server API for the application's backend (issue 18), authenticated by
// `Authorization: ApiKey KEY` (PARLEY_API_KEY): without a key configured every API route is a
// 404; with one, a wrong or missing key is a 401. Publishing as a named sender is stored and
// delivered like any message and idempotent by client_id (201 the first time, 200 with the same
// id after); the key deletes any message; DELETE /api/users/{user}/connections closes the user's
// connections on every shard with 4009.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, fileTimeout } from './server.mjs';
import { sqliteFactory, postgresFactory, getPage } from './postgres.mjs';

fileTimeout(60000);

const KEY = 'k3y-for-the-tests-0123456789abcdef';

function api(port, method, path, { key = KEY, body, auth } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (auth !== undefined) headers.authorization = auth;
  else if (key) headers.authorization = `ApiKey ${key}`;
  return request(port, path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

describe('without PARLEY_API_KEY', () => {
  test('the API does not exist: 404 whatever the key', { timeout: 10000 }, async () => {
    const server = await startServer();
    try {
      for (const [method, path] of [['POST', '/api/rooms/x/messages'], ['DELETE', '/api/users/Bob/connections']]) {
        for (const auth of [undefined, `ApiKey ${KEY}`, 'ApiKey ']) {
          const r = await api(server.port, method, path, { auth: auth ?? '', body: { username: 'S', content: 'c' } });
          assert.deepEqual([r.status, r.json.error], [404, 'not_found'], `${method} ${path} ${auth}`);
        }
      }
      const r = await api(server.port, 'DELETE', '/api/rooms/x/messages/1');
      assert.deepEqual([r.status, r.json.error], [404, 'not_found']);
      // The rooms' reads are what they were.
      assert.equal((await getPage(server.port, 'x')).status, 200);
    } finally {
      await server.stop();
    }
  });
});

for (const factory of [sqliteFactory(), postgresFactory()]) {
  describe(`the server API on ${factory.name}`, () => {
    let server;
    before(async () => {
      await factory.init();
      const db = await factory.newDb();
      server = await startServer({ args: [...db.args, '--threads', '2'], env: { PARLEY_API_KEY: KEY } });
    });
    after(async () => {
      await server?.stop();
      await factory.close();
    });

    test('a wrong or missing key is refused', { timeout: 10000 }, async () => {
      const body = { username: 'System', content: 'x' };
      let r = await api(server.port, 'POST', '/api/rooms/x/messages', { key: '', body });
      assert.deepEqual([r.status, r.json.error], [401, 'auth_required']);
      r = await api(server.port, 'POST', '/api/rooms/x/messages', { key: `${KEY}x`, body });
      assert.deepEqual([r.status, r.json.error], [401, 'invalid_api_key']);
      r = await api(server.port, 'POST', '/api/rooms/x/messages', { key: KEY.slice(0, -1), body });
      assert.deepEqual([r.status, r.json.error], [401, 'invalid_api_key']);
      r = await api(server.port, 'DELETE', '/api/users/Bob/connections', { auth: `Bearer ${KEY}` });
      assert.deepEqual([r.status, r.json.error], [401, 'auth_required']);
      r = await api(server.port, 'DELETE', '/api/rooms/x/messages/1', { key: 'nope-nope-nope-nope' });
      assert.deepEqual([r.status, r.json.error], [401, 'invalid_api_key']);
      const m = await server.metrics();
      assert.ok(m.some((s) => s.name === 'parley_rejected_total' && s.labels.reason === 'invalid_api_key' && s.value >= 3));
    });

    test('publish as a named sender: stored, delivered, idempotent by client_id', { timeout: 15000 }, async () => {
      const room = 'news';
      const members = [await server.connect(room, 'Ann'), await server.connect(room, 'Ben'), await server.connect(room, 'Cy')];
      const post = (body) => api(server.port, 'POST', `/api/rooms/${room}/messages`, { body });
      let r = await post({ username: 'System', content: 'Maintenance at 5', client_id: 'deploy-1' });
      assert.deepEqual([r.status, r.json], [201, { id: 1 }]);
      for (const c of members) {
        const m = await c.nextMessage();
        assert.deepEqual({ username: m.username, content: m.content, id: m.id, client_id: m.client_id, room: m.room },
          { username: 'System', content: 'Maintenance at 5', id: 1, client_id: 'deploy-1', room });
      }
      // The same client_id again: the original's id, nothing stored or delivered twice.
      r = await post({ username: 'System', content: 'Maintenance at 5', client_id: 'deploy-1' });
      assert.deepEqual([r.status, r.json], [200, { id: 1, duplicate: true }]);
      // Retries racing the original (still on its way to the store) wait for its id.
      const burst = await Promise.all([1, 2, 3, 4].map(() => post({ username: 'System', content: 'once', client_id: 'deploy-2' })));
      const ids = burst.map((x) => x.json.id);
      assert.deepEqual(ids, [2, 2, 2, 2], JSON.stringify(burst.map((x) => x.body)));
      assert.deepEqual(burst.map((x) => x.status).sort(), [200, 200, 200, 201]);
      // Without a client_id each call is a new message.
      r = await post({ username: 'Billing', content: 'invoice ready' });
      assert.deepEqual([r.status, r.json], [201, { id: 3 }]);
      for (const c of members) assert.deepEqual((await c.messages(2)).map((m) => m.id), [2, 3]);
      const page = await getPage(server.port, room);
      assert.deepEqual(page.json.messages.map((m) => [m.id, m.username]), [[1, 'System'], [2, 'System'], [3, 'Billing']]);

      // Refused bodies.
      for (const [body, code] of [
        [{ content: 'x' }, 'invalid_message'],
        [{ username: 'S', content: '' }, 'empty_content'],
        [{ username: 'S', content: 'x'.repeat(4001) }, 'content_too_long'],
        [{ username: '', content: 'x' }, 'invalid_username'],
        [{ username: 'S', content: 'x', client_id: 7 }, 'invalid_message'],
        [{ username: 'S', content: 'x', client_id: 'x'.repeat(65) }, 'invalid_client_id'],
      ]) {
        r = await post(body);
        assert.deepEqual([r.status, r.json.error], [400, code], JSON.stringify(body));
      }
      r = await api(server.port, 'POST', '/api/rooms/bad%20room/messages', { body: { username: 'S', content: 'x' } });
      assert.deepEqual([r.status, r.json.error], [400, 'invalid_room']);
      r = await request(server.port, `/api/rooms/${room}/messages`, { method: 'POST', headers: { authorization: `ApiKey ${KEY}` }, body: '{' });
      assert.deepEqual([r.status, r.json.error], [400, 'invalid_json']);

      // The key deletes any message; nobody can edit the API's messages (no proven author).
      r = await api(server.port, 'DELETE', `/api/rooms/${room}/messages/3`);
      assert.deepEqual([r.status, r.json], [200, { id: 3 }]);
      for (const c of members) assert.deepEqual(await c.next((f) => f.type === 'deleted', 5000, 'deleted'), { type: 'deleted', id: 3, room });
      r = await api(server.port, 'PATCH', `/api/rooms/${room}/messages/1`, { body: { content: 'changed' } });
      assert.deepEqual([r.status, r.json.error], [403, 'not_allowed']);
      for (const c of members) await c.close();
    });

    test('rooms, members and bans with the key: the backend manages any registered room as its owner', { timeout: 15000 }, async () => {
      const register = async (username) => {
        const r = await request(server.port, '/api/register', { method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username, password: 'correct horse' }) });
        assert.equal(r.status, 201, r.body);
        return r.json.token;
      };
      const [, bob] = [await register('Owna'), await register('Bobb')];
      let r = await api(server.port, 'POST', '/api/rooms', { body: { room: 'backend-room', visibility: 'private' } });
      assert.deepEqual([r.status, r.json.error], [400, 'bad_request'], 'the key must name an owner');
      r = await api(server.port, 'POST', '/api/rooms', { body: { room: 'backend-room', visibility: 'private', owner: 'Owna' } });
      assert.deepEqual([r.status, r.json.owner], [201, 'Owna'], r.body);
      r = await api(server.port, 'POST', '/api/rooms/backend-room/members', { body: { username: 'Bobb', role: 'member' } });
      assert.ok(r.status === 200 || r.status === 201, r.body);
      r = await api(server.port, 'GET', '/api/rooms/backend-room/members');
      assert.deepEqual(r.json.members.map((m) => [m.username, m.role]).sort(), [['Bobb', 'member'], ['Owna', 'owner']]);
      const conn = await server.connect('backend-room', undefined, { path: `/ws/backend-room?token=${bob}` });
      r = await api(server.port, 'POST', '/api/rooms/backend-room/bans', { body: { username: 'Bobb' } });
      assert.ok(r.status === 200 || r.status === 201, r.body);
      assert.equal((await conn.waitClosed()).code, 4003);
      r = await api(server.port, 'POST', '/api/rooms/backend-room/bans', { key: 'wrong-key-wrong-key', body: { username: 'Owna' } });
      assert.deepEqual([r.status, r.json.error], [401, 'invalid_api_key']);
    });

    test('disconnect a user everywhere: every connection of theirs closes with 4009', { timeout: 15000 }, async () => {
      // Bob on both endpoints and several rooms (spread over both shards), Ann beside him.
      const bobs = [];
      for (const room of ['a', 'b', 'c', 'd']) bobs.push(await server.connect(room, 'Bob'));
      const multi = await server.connect(undefined, undefined, { path: '/ws?username=Bob' });
      bobs.push(multi);
      const ann = await server.connect('a', 'Ann');
      const r = await api(server.port, 'DELETE', '/api/users/Bob/connections');
      assert.deepEqual([r.status, r.json], [200, { username: 'Bob', closed: 5 }]);
      for (const b of bobs) {
        const closed = await b.waitClosed(5000);
        assert.equal(closed.code, 4009);
      }
      // Ann stays, and sees Bob leave.
      ann.send({ content: 'still here' });
      assert.equal((await ann.nextMessage()).content, 'still here');
      assert.equal(ann.closeInfo, null);
      const again = await api(server.port, 'DELETE', '/api/users/Bob/connections');
      assert.deepEqual(again.json, { username: 'Bob', closed: 0 });
      const bad = await api(server.port, 'DELETE', '/api/users/%20/connections');
      assert.deepEqual([bad.status, bad.json.error], [400, 'invalid_username']);
      const wrongMethod = await api(server.port, 'POST', '/api/users/Bob/connections');
      assert.equal(wrongMethod.status, 405);
      const m = await server.metrics();
      assert.ok(m.some((s) => s.name === 'parley_disconnects_total' && s.labels.code === '4009' && s.value >= 5));
      await ann.close();
    });
  });
}
