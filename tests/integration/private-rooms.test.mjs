// Private rooms, direct messages and bans (docs/PROTOCOL.md, "Private rooms and direct
// messages"), with --auth required and accounts registered through the API, on both stores: a
// non-member refused on every path, a removed member cut off live (4003 on /ws/{room}, the room
// dropped on /ws), a direct-message room seen by exactly its two members, a ban holding across
// reconnects and a restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, metricValue, fileTimeout } from './server.mjs';
import { connect } from './client.mjs';
import { sqliteFactory, postgresFactory, poll } from './postgres.mjs';

fileTimeout(60000);

const SECRET = 'private-rooms-test-secret-0123456789abcdef';
const ARGS = ['--auth', 'required', '--jwt-secret', SECRET, '--login-rate', '100000'];

function api(port, method, path, token, body) {
  const headers = { ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return request(port, path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

const roomPath = (room, token, since) =>
  `/ws/${encodeURIComponent(room)}?token=${token}${since === undefined ? '' : `&since=${since}`}`;

// Connects and expects a refusal; resolves the error (status, json).
async function refused(port, path) {
  const err = await connect(port, null, null, { path }).then(
    (c) => { c.close(); return null; },
    (e) => e,
  );
  assert.ok(err && err.status, `expected ${path} to be refused`);
  return err;
}

const of = (type, room) => (f) => f.type === type && f.room === room;

for (const factory of [sqliteFactory(), postgresFactory()]) {
  const tag = `[${factory.name}]`;
  let srv;
  let db;
  const tokens = {};
  before(async () => {
    await factory.init();
    db = await factory.newDb();
    srv = await startServer({ args: [...ARGS, ...db.args] });
    // Argon2id on the auth thread: one after the other, ~0.1 s each.
    for (const name of ['Alice', 'Bob', 'Eve', 'Mallory']) {
      const r = await api(srv.port, 'POST', '/api/register', null, { username: name, password: 'correct horse' });
      assert.equal(r.status, 201, r.body);
      tokens[name] = r.json.token;
    }
  });
  after(async () => {
    await srv?.stop();
    await factory.close();
  });

  test(`${tag} a non-member is refused on every path and learns nothing`, { timeout: 15000 }, async () => {
    const made = await api(srv.port, 'POST', '/api/rooms', tokens.Alice, { room: 'team', visibility: 'private' });
    assert.equal(made.status, 201, made.body);
    assert.deepEqual(made.json, { room: 'team', visibility: 'private', owner: 'Alice' });
    const again = await api(srv.port, 'POST', '/api/rooms', tokens.Bob, { room: 'team', visibility: 'private' });
    assert.equal(again.status, 409, again.body);
    assert.equal(again.json.error, 'room_exists');
    const anonymous = await api(srv.port, 'POST', '/api/rooms', null, { room: 'x', visibility: 'private' });
    assert.equal(anonymous.status, 401, anonymous.body);

    // A public room in use (stored messages) cannot be taken over.
    const pub = await connect(srv.port, null, null, { path: roomPath('general', tokens.Bob) });
    pub.send({ content: 'public hello' });
    await pub.nextMessage();
    const taken = await api(srv.port, 'POST', '/api/rooms', tokens.Mallory, { room: 'general', visibility: 'private' });
    assert.equal(taken.status, 409, taken.body);
    pub.close();

    const alice = await connect(srv.port, null, null, { path: roomPath('team', tokens.Alice) });
    alice.send({ content: 'secret plan' });
    const sent = await alice.nextMessage();
    assert.equal(sent.id, 1);

    for (const path of [roomPath('team', tokens.Mallory), roomPath('team', tokens.Mallory, 0)]) {
      const e = await refused(srv.port, path);
      assert.equal(e.status, 403, path);
      assert.deepEqual(e.json?.error, 'not_a_member', e.body);
      assert.ok(!e.body.includes('secret') && !e.body.includes('Alice'), e.body);
    }
    const multi = await connect(srv.port, null, null, { path: `/ws?token=${tokens.Mallory}`, keepHistory: true, keepEvents: true });
    multi.send({ type: 'subscribe', room: 'team', since: 0 });
    const err = await multi.next((f) => f.type === 'error');
    assert.deepEqual({ code: err.code, room: err.room }, { code: 'not_a_member', room: 'team' });
    multi.send({ room: 'team', content: 'let me in' });
    assert.equal((await multi.next((f) => f.type === 'error')).code, 'not_subscribed');
    assert.ok(!multi.received.some((f) => f.type === 'history' || f.type === 'presence'));
    multi.close();

    for (const path of ['/api/rooms/team/messages', '/api/rooms/team/presence', '/api/rooms/team/members']) {
      const r = await api(srv.port, 'GET', path, tokens.Mallory);
      assert.equal(r.status, 403, `${path}: ${r.body}`);
      assert.equal(r.json.error, 'not_a_member');
      assert.ok(!r.body.includes('secret') && !r.body.includes('Alice'), r.body);
    }
    const listed = await api(srv.port, 'GET', '/api/rooms', tokens.Mallory);
    assert.ok(!listed.json.rooms.some((r) => r.room === 'team'), listed.body);
    assert.ok(listed.json.rooms.some((r) => r.room === 'general'), listed.body);
    const mine = await api(srv.port, 'GET', '/api/rooms', tokens.Alice);
    assert.deepEqual(mine.json.rooms.find((r) => r.room === 'team'),
      { room: 'team', members: 1, last_id: 1, visibility: 'private' });
    // The member reads what the stranger may not.
    const history = await api(srv.port, 'GET', '/api/rooms/team/messages', tokens.Alice);
    assert.equal(history.json.messages[0].content, 'secret plan');

    // A direct-message name answers the same whether the pair has a room or not.
    const dmName = 'dm.00000000000000000000000000000000';
    const e = await refused(srv.port, roomPath(dmName, tokens.Mallory));
    assert.deepEqual([e.status, e.json.error], [403, 'not_a_member']);
    const r = await api(srv.port, 'GET', `/api/rooms/${dmName}/members`, tokens.Mallory);
    assert.deepEqual([r.status, r.json.error], [403, 'not_a_member']);
    const open = await api(srv.port, 'GET', '/api/rooms/general/members', tokens.Mallory);
    assert.deepEqual(open.json, { room: 'general', visibility: 'public', registered: false, members: [] });
    const reserved = await api(srv.port, 'POST', '/api/rooms', tokens.Mallory, { room: dmName, visibility: 'private' });
    assert.deepEqual([reserved.status, reserved.json.error], [400, 'invalid_room']);
    alice.close();
  });

  test(`${tag} members are managed by role; a removed member is cut off at once`, { timeout: 15000 }, async () => {
    const made = await api(srv.port, 'POST', '/api/rooms', tokens.Alice, { room: 'crew', visibility: 'private' });
    assert.equal(made.status, 201, made.body);
    const addBob = await api(srv.port, 'POST', '/api/rooms/crew/members', tokens.Alice, { username: 'bob', role: 'member' });
    assert.equal(addBob.status, 200, addBob.body);
    assert.deepEqual(addBob.json, { room: 'crew', username: 'Bob', role: 'member' });
    const byMember = await api(srv.port, 'POST', '/api/rooms/crew/members', tokens.Bob, { username: 'Eve' });
    assert.deepEqual([byMember.status, byMember.json.error], [403, 'not_room_admin']);
    const addEve = await api(srv.port, 'POST', '/api/rooms/crew/members', tokens.Alice, { username: 'Eve', role: 'admin' });
    assert.equal(addEve.status, 200, addEve.body);
    const ownerOut = await api(srv.port, 'DELETE', '/api/rooms/crew/members/Alice', tokens.Eve);
    assert.deepEqual([ownerOut.status, ownerOut.json.error], [409, 'owner_fixed']);
    const list = await api(srv.port, 'GET', '/api/rooms/crew/members', tokens.Bob);
    assert.deepEqual(list.json.members, [
      { username: 'Alice', role: 'owner' }, { username: 'Eve', role: 'admin' }, { username: 'Bob', role: 'member' },
    ]);

    const alice = await connect(srv.port, null, null, { path: roomPath('crew', tokens.Alice) });
    const bob = await connect(srv.port, null, null, { path: roomPath('crew', tokens.Bob) });
    const bobMulti = await connect(srv.port, null, null, { path: `/ws?token=${tokens.Bob}`, keepHistory: true, keepEvents: true });
    bobMulti.send({ type: 'subscribe', room: 'crew' });
    await bobMulti.next(of('presence', 'crew'));
    bobMulti.send({ type: 'subscribe', room: 'lounge' });
    await bobMulti.next(of('presence', 'lounge'));
    alice.send({ content: 'before' });
    await bob.nextMessage();
    await bobMulti.next(of('message', 'crew'));

    const t0 = Date.now();
    const removed = await api(srv.port, 'DELETE', '/api/rooms/crew/members/Bob', tokens.Eve);  // an admin
    assert.equal(removed.status, 200, removed.body);
    const closed = await bob.waitClosed(3000);
    assert.equal(closed.code, 4003);
    const notice = await bobMulti.next(of('unsubscribed', 'crew'), 3000);
    assert.equal(notice.code, 'not_a_member');
    const cutMs = Date.now() - t0;
    alice.send({ content: 'after' });
    await alice.next((f) => f.type === 'message' && f.content === 'after');
    // The other room goes on; nothing of crew reaches the removed member.
    bobMulti.send({ room: 'lounge', content: 'still here' });
    await bobMulti.next((f) => f.type === 'message' && f.room === 'lounge');
    assert.ok(!bobMulti.received.some((f) => f.room === 'crew' && f.content === 'after'));
    const back = await refused(srv.port, roomPath('crew', tokens.Bob));
    assert.deepEqual([back.status, back.json.error], [403, 'not_a_member']);
    // The others see Bob leave (his last connection to the room is gone).
    await poll(async () => alice.events, (ev) => ev.some((f) => f.type === 'leave' && f.username === 'Bob'), 3000);
    assert.ok(metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4003 }) >= 1);
    console.log(`${tag} removed member cut ${cutMs} ms after the DELETE was sent`);
    alice.close();
    bobMulti.close();
  });

  test(`${tag} a direct-message room is the same for both and seen by exactly two`, { timeout: 15000 }, async () => {
    const ab = await api(srv.port, 'POST', '/api/dm/Bob', tokens.Alice);
    assert.equal(ab.status, 200, ab.body);
    assert.match(ab.json.room, /^dm\.[0-9a-f]{32}$/);
    assert.equal(ab.json.with, 'Bob');
    const ba = await api(srv.port, 'POST', '/api/dm/alice', tokens.Bob);
    assert.equal(ba.json.room, ab.json.room);
    const room = ab.json.room;
    for (const [name, other] of [['Alice', 'Bob'], ['Bob', 'Alice']]) {
      const list = await api(srv.port, 'GET', '/api/rooms', tokens[name]);
      const entry = list.json.rooms.find((r) => r.room === room);
      assert.deepEqual(entry, { room, members: 0, last_id: 0, visibility: 'private', direct: true, with: other }, list.body);
    }
    for (const name of ['Eve', 'Mallory']) {
      const list = await api(srv.port, 'GET', '/api/rooms', tokens[name]);
      assert.ok(!list.json.rooms.some((r) => r.room === room), list.body);
      const e = await refused(srv.port, roomPath(room, tokens[name]));
      assert.deepEqual([e.status, e.json.error], [403, 'not_a_member']);
    }
    const members = await api(srv.port, 'GET', `/api/rooms/${room}/members`, tokens.Bob);
    assert.deepEqual(members.json.members.map((m) => m.username).sort(), ['Alice', 'Bob']);
    const add = await api(srv.port, 'POST', `/api/rooms/${room}/members`, tokens.Alice, { username: 'Eve' });
    assert.deepEqual([add.status, add.json.error], [409, 'direct_room']);
    const self = await api(srv.port, 'POST', '/api/dm/ALICE', tokens.Alice);
    assert.equal(self.status, 400, self.body);
    const nobody = await api(srv.port, 'POST', '/api/dm/Nobody', tokens.Alice);
    assert.deepEqual([nobody.status, nobody.json.error], [404, 'no_such_user']);

    const alice = await connect(srv.port, null, null, { path: roomPath(room, tokens.Alice) });
    const bob = await connect(srv.port, null, null, { path: roomPath(room, tokens.Bob) });
    alice.send({ content: 'just us' });
    assert.equal((await bob.nextMessage()).content, 'just us');
    alice.close();
    bob.close();
  });

  test(`${tag} a ban cuts the user and holds across reconnects and a restart`, { timeout: 20000 }, async () => {
    const made = await api(srv.port, 'POST', '/api/rooms', tokens.Alice, { room: 'lobby', visibility: 'public' });
    assert.deepEqual(made.json, { room: 'lobby', visibility: 'public', owner: 'Alice' });
    const eve = await connect(srv.port, null, null, { path: roomPath('lobby', tokens.Eve) });  // public
    const byStranger = await api(srv.port, 'POST', '/api/rooms/lobby/bans', tokens.Mallory, { username: 'Eve' });
    assert.deepEqual([byStranger.status, byStranger.json.error], [403, 'not_room_admin']);
    const banned = await api(srv.port, 'POST', '/api/rooms/lobby/bans', tokens.Alice, { username: 'eve' });
    assert.equal(banned.status, 200, banned.body);
    assert.deepEqual(banned.json, { room: 'lobby', username: 'Eve', banned: true });
    assert.equal((await eve.waitClosed(3000)).code, 4003);
    for (let i = 0; i < 2; i++) {
      const e = await refused(srv.port, roomPath('lobby', tokens.Eve));
      assert.deepEqual([e.status, e.json.error], [403, 'banned']);
    }
    const hist = await api(srv.port, 'GET', '/api/rooms/lobby/messages', tokens.Eve);
    assert.deepEqual([hist.status, hist.json.error], [403, 'banned']);
    const bans = await api(srv.port, 'GET', '/api/rooms/lobby/bans', tokens.Alice);
    assert.deepEqual(bans.json.bans.map((b) => b.username), ['Eve']);

    // A restart on the same store: the ban, the private rooms and their members are still there.
    await srv.stop();
    srv = await startServer({ args: [...ARGS, ...db.args] });
    const e = await refused(srv.port, roomPath('lobby', tokens.Eve));
    assert.deepEqual([e.status, e.json.error], [403, 'banned']);
    const stranger = await refused(srv.port, roomPath('team', tokens.Mallory));
    assert.deepEqual([stranger.status, stranger.json.error], [403, 'not_a_member']);
    const list = await api(srv.port, 'GET', '/api/rooms/crew/members', tokens.Alice);
    assert.deepEqual(list.json.members.map((m) => m.username), ['Alice', 'Eve']);  // Bob was removed
    const member = await connect(srv.port, null, null, { path: roomPath('team', tokens.Alice) });
    member.close();

    const lifted = await api(srv.port, 'DELETE', '/api/rooms/lobby/bans/Eve', tokens.Alice);
    assert.equal(lifted.status, 200, lifted.body);
    const eveBack = await connect(srv.port, null, null, { path: roomPath('lobby', tokens.Eve) });
    eveBack.close();
    await poll(() => api(srv.port, 'GET', '/api/rooms/lobby/bans', tokens.Alice), (r) => r.json.bans.length === 0);
  });
}
