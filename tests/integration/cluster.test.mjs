// Many instances as one (issue 15), with real processes: redis-server, PostgreSQL and three
// Parley instances on loopback. Every client sees every message of its room once, in one order,
// with ids 1..n and the same bytes on every instance; an owner killed with kill -9, or Redis
// killed and restarted, under load, loses nothing any client saw and stores no client_id twice;
// resuming on another instance replays exactly; presence spans the instances.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileTimeout, request, sleep } from './server.mjs';
import { startPostgres, poll } from './postgres.mjs';
import { startRedis, startInstances } from './cluster.mjs';
import { ChatClient, sendAll, waitSettled, health, ownerOf, roomsOwnedByEach, checkRoom } from './cluster-chat.mjs';

fileTimeout(240000);

const LEASE_MS = 2000;
let pg;
before(async () => { pg = await startPostgres(); });
after(async () => { await pg?.stop(); });

// Redis, a fresh database and `k` instances, ready when every instance sees all `k` and every
// bucket is held.
async function startCluster(t, k = 3, { env = {} } = {}) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const db = await pg.createDatabase();
  const inst = await startInstances(k, { redisUrl: redis.url, db, leaseMs: LEASE_MS, env });
  t.after(() => inst.stop());
  await waitSettled(inst, k);
  return { redis, db, inst };
}

test('three instances: every client sees every message of its room once, ids 1..n, the same bytes everywhere', { timeout: 60000 }, async (t) => {
  const { inst } = await startCluster(t);
  const rooms = await roomsOwnedByEach(inst, 'many');
  // Every instance answers the same owner for a room, empty rooms too.
  for (const room of rooms.values()) {
    const owners = await Promise.all(inst.ports.map((p) => ownerOf(p, room)));
    assert.equal(new Set(owners).size, 1, `${room}: ${owners}`);
  }
  const clients = [];
  for (const room of rooms.values())
    for (let i = 0; i < 3; i++)
      clients.push(new ChatClient({ ports: () => inst.ports, room, username: `u${i}`, start: i }));
  await Promise.all(clients.map((c) => c.open()));
  await sendAll(clients, { count: 15, perSecond: 50 });
  // Everyone has everything (3 senders x 15 per room).
  await poll(async () => clients.every((c) => c.seen.length === 45), (ok) => ok, 10000);
  for (const room of rooms.values()) {
    const inRoom = clients.filter((c) => c.room === room);
    const history = await checkRoom(inst.ports[0], room, inRoom);
    assert.equal(history.length, 45);
    // The same bytes for an id on every instance.
    for (const c of inRoom) {
      assert.equal(c.seen.length, 45, `${c.username} in ${room} on instance ${c.at % 3}`);
      assert.deepEqual(c.seen.map((s) => s.raw), inRoom[0].seen.map((s) => s.raw));
    }
  }
  const h = await health(inst.ports[1]);
  assert.deepEqual([...h.cluster.instances].sort(), [...inst.ids].sort());
  for (const c of clients) c.close();
});

test('presence spans the instances: a joiner sees members everywhere; a user on two instances is one member', { timeout: 60000 }, async (t) => {
  const { inst } = await startCluster(t);
  // An owner that just took a bucket (here: at the cluster's start) rebuilds its rooms' presence
  // from the instances' announcements and sends it whole (a presence frame); join and leave
  // events, which this test is about, come once that is over.
  await sleep(2700);
  const room = 'presence-room';
  const ann = new ChatClient({ ports: () => inst.ports, room, username: 'ann', start: 0 });
  await ann.open();
  const bob = new ChatClient({ ports: () => inst.ports, room, username: 'bob', start: 1 });
  await bob.open();
  assert.deepEqual([...bob.presence.users].sort(), ['ann', 'bob']);
  await poll(async () => ann.events.some((e) => e.type === 'join' && e.username === 'bob'), (ok) => ok, 5000);
  assert.ok(ann.events.some((e) => e.type === 'join' && e.username === 'bob'), JSON.stringify(ann.events));
  // Bob in a second tab on the third instance: still one member; closing one tab is no leave.
  const bob2 = new ChatClient({ ports: () => inst.ports, room, username: 'bob', start: 2 });
  await bob2.open();
  assert.deepEqual([...bob2.presence.users].sort(), ['ann', 'bob']);
  bob2.close();
  await sleep(500);
  assert.ok(!ann.events.some((e) => e.type === 'leave'), JSON.stringify(ann.events));
  bob.close();
  await poll(async () => ann.events.some((e) => e.type === 'leave' && e.username === 'bob'), (ok) => ok, 5000);
  assert.ok(ann.events.some((e) => e.type === 'leave' && e.username === 'bob'), JSON.stringify(ann.events));
  const users = await request(inst.ports[2], `/api/rooms/${room}/presence`);
  assert.deepEqual(users.json.users, ['ann']);
  ann.close();
});

test('the owner killed with kill -9 under load: nothing any client saw is lost, no client_id twice, sends resume, its users leave', { timeout: 90000 }, async (t) => {
  const { inst } = await startCluster(t);
  const rooms = await roomsOwnedByEach(inst, 'kill');
  const victimId = inst.ids[0];
  const room = rooms.get(victimId);
  // Clients on every instance: those on the victim reconnect elsewhere.
  const clients = [0, 1, 2, 3, 4, 5].map((i) => new ChatClient({ ports: () => inst.ports.filter((_, k) => k !== 0 || !killed), room, username: `k${i}`, start: i % 3 }));
  let killed = false;
  const ghost = new ChatClient({ ports: () => [inst.ports[0]], room, username: 'ghost', start: 0 });
  await Promise.all([...clients, ghost].map((c) => c.open()));
  const sending = sendAll(clients, { count: 40, perSecond: 20, timeoutMs: 60000 });
  await sleep(700);
  const t0 = Date.now();
  killed = true;
  ghost.closedForGood = true;
  await inst.kill9(0);
  await sending;
  const resumedWithinMs = Date.now() - t0;
  await poll(async () => clients.every((c) => c.seen.length === 240), (ok) => ok, 15000);
  await checkRoom(inst.ports[1], room, clients);
  for (const c of clients) assert.equal(c.seen.length, 240, `${c.username} saw ${c.seen.length}`);
  // The dead instance's only user leaves presence within ~10 s.
  const users = await poll(async () => (await request(inst.ports[1], `/api/rooms/${room}/presence`)).json.users,
    (u) => !u.includes('ghost'), 12000, 200);
  assert.ok(!users.includes('ghost'), `ghost still present: ${users}`);
  const owner = await ownerOf(inst.ports[1], room);
  assert.notEqual(owner, victimId);
  t.diagnostic(`all sends acknowledged ${resumedWithinMs} ms after the kill (lease ${LEASE_MS} ms)`);
  for (const c of clients) c.close();
});

test('an owner that died: a join meanwhile is answered at once, and the typing it showed ends by itself', { timeout: 60000 }, async (t) => {
  const { inst } = await startCluster(t, 2);
  const rooms = await roomsOwnedByEach(inst, 'typing');
  const room = rooms.get(inst.ids[0]);
  const WebSocket = (await import('ws')).default;
  const open = (username) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${inst.ports[1]}/ws/${room}?username=${username}`);
    ws.frames = [];
    ws.on('message', (d) => ws.frames.push(JSON.parse(d.toString())));
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
  // Both on the second instance; the room's owner is the first, which relays the typing.
  const typer = await open('typer');
  const watcher = await open('watcher');
  const typing = (state) => watcher.frames.some((f) => f.type === 'typing' && f.username === 'typer' && f.state === state);
  await poll(async () => {
    typer.send(JSON.stringify({ type: 'typing', state: true }));
    return typing(true);
  }, (ok) => ok, 10000, 1100);  // the same state again at most once a second
  assert.ok(typing(true), 'the watcher saw typer typing');
  const t0 = Date.now();
  await inst.kill9(0);
  // Until the lease runs out the second instance still takes the dead one for the owner; its
  // presence query reaches no one, and the join is answered with the users here at once
  // (before: after the whole 1 s presence wait). (A moment first, for Redis to see the dead
  // instance's connection close; the lease keeps the window open for seconds.)
  await sleep(100);
  const joinedAt = Date.now();
  const late = await open('late');
  const presence = await poll(async () => late.frames.find((f) => f.type === 'presence'), (f) => f, 5000, 10);
  const joinMs = Date.now() - joinedAt;
  assert.ok(presence, 'the late joiner got its presence');
  assert.ok(presence.users.includes('typer') && presence.users.includes('late'), JSON.stringify(presence));
  assert.ok(joinMs < 700, `the join waited ${joinMs} ms for a dead owner`);
  t.diagnostic(`a join while the owner was dead was answered in ${joinMs} ms`);
  late.close();
  // No `false` can come from the dead owner: the relay ends the `true` itself, a second after
  // the owner's 6 s would have.
  assert.ok(await poll(async () => typing(false), (ok) => ok, 15000, 100), 'typing never ended');
  t.diagnostic(`typing ended ${Date.now() - t0} ms after the owner was killed`);
  typer.close();
  watcher.close();
});

test('Redis killed with kill -9 and restarted empty under load: nothing lost, no ghosts, no missing users', { timeout: 90000 }, async (t) => {
  const { inst, redis } = await startCluster(t);
  const room = 'redis-dies';
  const clients = [0, 1, 2, 3, 4, 5].map((i) => new ChatClient({ ports: () => inst.ports, room, username: `r${i}`, start: i % 3 }));
  await Promise.all(clients.map((c) => c.open()));
  const sending = sendAll(clients, { count: 40, perSecond: 20, timeoutMs: 60000 });
  await sleep(600);
  await redis.kill9();
  // While Redis is down, /healthz says degraded.
  const down = await poll(async () => health(inst.ports[0]), (h) => h?.status === 'degraded', 5000, 100);
  assert.equal(down?.status, 'degraded');
  await sleep(1500);
  await redis.restart();
  await sending;
  await waitSettled(inst, 3);
  await poll(async () => clients.every((c) => c.seen.length === 240), (ok) => ok, 15000);
  await checkRoom(inst.ports[2], room, clients);
  // Presence rebuilt: exactly the six.
  const users = await poll(async () => (await request(inst.ports[0], `/api/rooms/${room}/presence`)).json.users,
    (u) => u.length === 6, 10000, 200);
  assert.deepEqual([...users].sort(), clients.map((c) => c.username).sort());
  for (const c of clients) c.close();
});

test('resume after switching instances at random points: exact replay, nothing twice', { timeout: 60000 }, async (t) => {
  const { inst } = await startCluster(t);
  const room = 'hopping';
  const writer = new ChatClient({ ports: () => inst.ports, room, username: 'writer', start: 0 });
  const hoppers = [0, 1, 2].map((i) => new ChatClient({ ports: () => inst.ports, room, username: `h${i}`, start: i }));
  await Promise.all([writer, ...hoppers].map((c) => c.open()));
  let hopping = true;
  const hops = (async () => {
    // Each in turn (every one hops), at random moments.
    for (let i = 0; hopping; i++) {
      await sleep(100 + Math.random() * 300);
      hoppers[i % hoppers.length].ws?.terminate(); // reconnects to the next instance with ?since=
    }
  })();
  await sendAll([writer], { count: 120, perSecond: 60 });
  hopping = false;
  await hops;
  await poll(async () => hoppers.every((h) => h.seen.length === 120 && h.joined), (ok) => ok, 15000);
  await checkRoom(inst.ports[0], room, [writer, ...hoppers]);
  for (const h of hoppers) {
    assert.equal(h.seen.length, 120, `${h.username}`);
    assert.ok(h.reconnects > 0);
  }
  for (const c of [writer, ...hoppers]) c.close();
});

test('edits, deletes and the server API across instances: seen by every member, in history, answered once', { timeout: 60000 }, async (t) => {
  const KEY = 'cluster-api-key-0123456789abcdef';
  const { inst } = await startCluster(t, 3, { env: { PARLEY_API_KEY: KEY } });
  const rooms = await roomsOwnedByEach(inst, 'mod');
  const room = rooms.get(inst.ids[0]); // owned by the first instance; Alice is on the second
  const register = async (port, username) => {
    const r = await request(port, '/api/register', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: 'correct horse' }) });
    assert.equal(r.status, 201, r.body);
    return r.json.token;
  };
  const token = await register(inst.ports[1], 'Alice');
  const WebSocket = (await import('ws')).default;
  const frames = [[], [], []];
  const sockets = await Promise.all(inst.ports.map((port, i) => new Promise((resolve, reject) => {
    const path = i === 1 ? `/ws/${room}?token=${token}` : `/ws/${room}?username=watcher${i}`;
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.on('message', (d) => frames[i].push(JSON.parse(d.toString())));
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  })));
  t.after(() => sockets.forEach((ws) => ws.terminate()));
  const until = (pred, what) => poll(async () => pred(), (ok) => ok, 10000).then((ok) => assert.ok(ok, what));
  await until(() => frames.every((f) => f.some((x) => x.type === 'presence')), 'joined everywhere');
  sockets[1].send(JSON.stringify({ content: 'typo here', client_id: 'a1' }));
  await until(() => frames.every((f) => f.some((x) => x.type === 'message' && x.id === 1)), 'message 1 everywhere');
  sockets[1].send(JSON.stringify({ type: 'edit', id: 1, content: 'no typo' }));
  await until(() => frames.every((f) => f.some((x) => x.type === 'edited' && x.id === 1 && x.content === 'no typo')), 'edited everywhere');
  // The server API, on the third instance (no member of the room's owner there needed).
  const api = (method, path, body) => request(inst.ports[2], path, { method,
    headers: { 'content-type': 'application/json', authorization: `ApiKey ${KEY}` }, body: body && JSON.stringify(body) });
  let r = await api('POST', `/api/rooms/${room}/messages`, { username: 'System', content: 'from the backend', client_id: 'b1' });
  assert.deepEqual([r.status, r.json.id], [201, 2], r.body);
  r = await api('POST', `/api/rooms/${room}/messages`, { username: 'System', content: 'from the backend', client_id: 'b1' });
  assert.deepEqual([r.status, r.json.id, r.json.duplicate], [200, 2, true], r.body);
  // Into a room with no member anywhere: answered by its owner all the same.
  r = await api('POST', '/api/rooms/empty-room/messages', { username: 'System', content: 'nobody here' });
  assert.deepEqual([r.status, r.json.id], [201, 1], r.body);
  r = await api('DELETE', `/api/rooms/${room}/messages/2`);
  assert.equal(r.status, 200, r.body);
  await until(() => frames.every((f) => f.some((x) => x.type === 'deleted' && x.id === 2)), 'deleted everywhere');
  const history = (await request(inst.ports[0], `/api/rooms/${room}/messages`)).json.messages;
  assert.deepEqual(history.map((m) => [m.id, m.content, !!m.deleted, !!m.edited_at]),
    [[1, 'no typo', false, true], [2, '', true, false]]);
  // A guest's edit is refused by the owner, across instances.
  sockets[0].send(JSON.stringify({ type: 'edit', id: 1, content: 'hijack' }));
  await until(() => frames[0].some((x) => x.type === 'error' && x.code === 'not_allowed'), 'not_allowed');
  // Disconnect Alice everywhere from the third instance: her socket is on the second.
  const closed = new Promise((resolve) => sockets[1].on('close', (code) => resolve(code)));
  r = await api('DELETE', '/api/users/Alice/connections');
  assert.equal(r.status, 200, r.body);
  assert.equal(await closed, 4009);
});

test('private rooms and DMs across instances: members admitted everywhere, strangers nowhere, a removal cuts at once', { timeout: 60000 }, async (t) => {
  const { inst } = await startCluster(t);
  const WebSocket = (await import('ws')).default;
  const { upgradeRequest } = await import('./client.mjs');
  const call = async (port, method, path, token, body) => request(port, path, { method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: body && JSON.stringify(body) });
  const tokens = {};
  for (const name of ['Alice', 'Bob', 'Eve']) {
    const r = await request(inst.ports[0], '/api/register', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: name, password: 'correct horse' }) });
    assert.equal(r.status, 201, r.body);
    tokens[name] = r.json.token;
  }
  let r = await call(inst.ports[0], 'POST', '/api/rooms', tokens.Alice, { room: 'secret', visibility: 'private' });
  assert.equal(r.status, 201, r.body);
  r = await call(inst.ports[0], 'POST', '/api/rooms/secret/members', tokens.Alice, { username: 'Bob', role: 'member' });
  assert.ok(r.status === 200 || r.status === 201, r.body);
  // Every instance learns it: Bob is let in on the second, Eve is kept out of the third.
  const status = async (port, who) => (await upgradeRequest(port, `/ws/secret?token=${tokens[who]}`)).status;
  assert.equal(await poll(() => status(inst.ports[1], 'Bob'), (s) => s === 101, 5000, 100), 101);
  assert.equal(await poll(() => status(inst.ports[2], 'Eve'), (s) => s === 403, 5000, 100), 403);
  const history = await request(inst.ports[2], `/api/rooms/secret/messages?token=${tokens.Eve}`);
  assert.equal(history.status, 403);
  // Bob connected on the second instance; Alice removes him on the first: cut at once (4003).
  const bob = new WebSocket(`ws://127.0.0.1:${inst.ports[1]}/ws/secret?token=${tokens.Bob}`);
  await new Promise((resolve, reject) => { bob.on('open', resolve); bob.on('error', reject); });
  // The room's owner moderates (deletes another's message); a plain member may not.
  const echoed = new Promise((resolve) => bob.on('message', (d) => { const f = JSON.parse(d.toString()); if (f.type === 'message') resolve(f); }));
  bob.send(JSON.stringify({ content: 'from Bob' }));
  const sent = await echoed;
  r = await call(inst.ports[2], 'DELETE', `/api/rooms/secret/messages/${sent.id}`, tokens.Alice);
  assert.equal(r.status, 200, r.body);
  const closed = new Promise((resolve) => bob.on('close', (code) => resolve(code)));
  const t0 = Date.now();
  r = await call(inst.ports[0], 'DELETE', '/api/rooms/secret/members/Bob', tokens.Alice);
  assert.equal(r.status, 200, r.body);
  assert.equal(await closed, 4003);
  t.diagnostic(`removed member cut on another instance ${Date.now() - t0} ms after the DELETE was sent`);
  // A DM opened on the third instance reaches both, on any instance.
  r = await call(inst.ports[2], 'POST', '/api/dm/Alice', tokens.Eve);
  assert.equal(r.status === 200 || r.status === 201, true, r.body);
  const dm = r.json.room;
  assert.equal(await poll(() => (async () => (await upgradeRequest(inst.ports[1], `/ws/${dm}?token=${tokens.Alice}`)).status)(),
    (s) => s === 101, 5000, 100), 101);
  assert.equal((await upgradeRequest(inst.ports[0], `/ws/${dm}?token=${tokens.Bob}`)).status, 403);
});

test('--cluster needs PostgreSQL: SQLite and none are refused at start-up with a clear message', async () => {
  const { spawnSync } = await import('node:child_process');
  for (const db of ['sqlite:/tmp/x.db', 'none']) {
    const r = spawnSync(process.env.PARLEY_BIN, ['--cluster', 'redis://127.0.0.1:1', '--db', db], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--cluster: needs --db postgres/);
  }
});
