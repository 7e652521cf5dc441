// One WebSocket for many rooms (docs/PROTOCOL.md, "One connection, many rooms"): GET /ws, then
// subscribe/unsubscribe, room-scoped frames, `room` on every server frame about a room (on both
// endpoints), the per-connection limits, and bad input. The real binary, real `ws` clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, metricValue, request, sleep, fileTimeout } from './server.mjs';
import { connect, rawConnect, upgradeRequest } from './client.mjs';

fileTimeout(240000);

const MAX_ROOMS = 3;
const MAX_OUTBOUND = 65536;

let srv;
before(async () => {
  srv = await startServer({
    args: ['--max-rooms-per-connection', String(MAX_ROOMS), '--max-outbound', String(MAX_OUTBOUND)],
  });
});
after(async () => { await srv?.stop(); });

// A client of /ws: every frame stays in its inbox (history and presence too), since each says
// which room it is about.
const multi = (username, opts = {}) =>
  connect(srv.port, null, null, { path: `/ws?username=${encodeURIComponent(username)}`, keepHistory: true, keepEvents: true, ...opts });

const of = (type, room) => (f) => f.type === type && f.room === room;

// Subscribes and waits for the room's presence frame: the end of its catch-up.
async function subscribe(c, room, since) {
  c.send({ type: 'subscribe', room, ...(since === undefined ? {} : { since }) });
  return c.next(of('presence', room), 5000, `presence of ${room}`);
}

// The chat message ids of `room` a client received, history (replay) and live, in order.
function idsIn(c, room) {
  const ids = [];
  for (const f of c.received) {
    if (f.room !== room) continue;
    if (f.type === 'history') ids.push(...f.messages.map((m) => m.id));
    if (f.type === 'message') ids.push(f.id);
  }
  return ids;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('GET /ws upgrades into no room, with the upgrade rules of /ws/{room}', async () => {
  const c = await multi('Lone');
  await sleep(200);
  assert.deepEqual(c.received, [], 'a connection in no room is sent nothing');
  c.send({ room: 'nowhere', content: 'hello?' });
  const e = await c.nextError();
  assert.deepEqual({ code: e.code, room: e.room }, { code: 'not_subscribed', room: 'nowhere' });
  await c.close();

  const refusals = [
    ['/ws?username=Ann&since=3', 400, 'invalid_since'],
    ['/ws?username=', 400, 'invalid_username'],
    ['/ws?username=%zz', 400, 'invalid_username'],
    ['/ws?token=not.a.token', 401, 'invalid_token'],
  ];
  for (const [path, status, code] of refusals) {
    const r = await upgradeRequest(srv.port, path);
    assert.equal(r.status, status, `${path}: ${r.body}`);
    assert.equal(r.json?.error, code, path);
  }
  const anonymous = await connect(srv.port, null, null, { path: '/ws' }); // no name: "anonymous"
  await anonymous.close();
  const notUpgrade = await request(srv.port, '/ws');
  assert.equal(notUpgrade.status, 426);
  assert.equal(notUpgrade.json?.error, 'upgrade_required');
});

test('--auth required holds for /ws too', async () => {
  const strict = await startServer({ args: ['--auth', 'required'] });
  try {
    const r = await upgradeRequest(strict.port, '/ws?username=Ann');
    assert.equal(r.status, 401);
    assert.equal(r.json?.error, 'auth_required');
  } finally {
    await strict.stop();
  }
});

test('subscribe and unsubscribe: answered like a join, join and leave seen by the others, room on every frame', async () => {
  const bob = await srv.connect('lobby', 'Bob', { keepHistory: true, keepEvents: true });
  await bob.next((f) => f.type === 'presence');
  bob.send({ content: 'before Alice' });
  await bob.nextMessage();

  const alice = await multi('Alice');
  const presence = await subscribe(alice, 'lobby');
  assert.deepEqual(presence.users.sort(), ['Alice', 'Bob']);
  // Answered exactly like a join of /ws/lobby: history, then presence, then live traffic.
  const first = alice.received.filter((f) => f.room === 'lobby').map((f) => f.type);
  assert.deepEqual(first.slice(0, 2), ['history', 'presence'], `frames: ${first}`);
  assert.deepEqual(alice.received[0].messages.map((m) => m.content), ['before Alice']);
  await alice.next(of('join', 'lobby'));

  // Bob, on the room's own endpoint, sees Alice come; his frames carry the room too.
  const join = await bob.next((f) => f.type === 'join' && f.username === 'Alice', 3000);
  assert.equal(join.room, 'lobby');
  for (const f of bob.received) assert.equal(f.room, 'lobby', `Bob's ${f.type} frame names its room: ${f.raw}`);

  alice.send({ room: 'lobby', content: 'hi Bob', client_id: 'a1' });
  const m = await bob.nextMessage();
  assert.deepEqual({ content: m.content, room: m.room, username: m.username, client_id: m.client_id },
    { content: 'hi Bob', room: 'lobby', username: 'Alice', client_id: 'a1' });
  const echo = await alice.next(of('message', 'lobby'));
  assert.equal(echo.id, m.id);

  alice.send({ room: 'lobby', type: 'typing', state: true });
  const typing = await bob.next((f) => f.type === 'typing', 3000);
  assert.deepEqual({ username: typing.username, state: typing.state, room: typing.room },
    { username: 'Alice', state: true, room: 'lobby' });

  alice.send({ type: 'unsubscribe', room: 'lobby' });
  const done = await alice.next((f) => f.type === 'unsubscribed');
  assert.deepEqual(JSON.parse(done.raw), { type: 'unsubscribed', room: 'lobby' });
  // Typing ends before the leave; the leave names the room.
  const leave = await bob.next((f) => f.type === 'leave', 3000);
  assert.deepEqual({ username: leave.username, room: leave.room }, { username: 'Alice', room: 'lobby' });
  bob.send({ content: 'after Alice' });
  await bob.nextMessage();
  await sleep(300);
  assert.equal(alice.received.filter((f) => f.type === 'message' && f.content === 'after Alice').length, 0,
    'a message after unsubscribe reached the client');

  // Subscribing again works, and history pages name their room.
  await subscribe(alice, 'lobby');
  alice.send({ type: 'history', room: 'lobby', before: m.id + 1, limit: 1 });
  const page = await alice.next((f) => f.type === 'history' && f.before !== undefined);
  assert.deepEqual({ room: page.room, ids: page.messages.map((x) => x.id) }, { room: 'lobby', ids: [m.id] });
  await Promise.all([alice.close(), bob.close()]);
});

test('resume per room with since: every message once, no gap, however busy the room', { timeout: 30000 }, async () => {
  const sender = await srv.connect('busy', 'Sender');
  const other = await srv.connect('quiet', 'Other');
  for (let i = 1; i <= 10; i++) sender.send({ content: `b${i}` });
  for (let i = 1; i <= 5; i++) other.send({ content: `q${i}` });
  await sender.messages(10);
  await other.messages(5);

  // While the sender keeps the busy room going, Alice resumes both rooms on one connection.
  let sent = 10;
  let sending = true;
  const pump = (async () => {
    while (sending) {
      sender.send({ content: `b${++sent}` });
      await sleep(2);
    }
  })();
  const alice = await multi('Alice2');
  alice.send({ type: 'subscribe', room: 'busy', since: 4 });
  alice.send({ type: 'subscribe', room: 'quiet', since: 0 });
  await alice.next(of('presence', 'busy'));
  await alice.next(of('presence', 'quiet'));
  await sleep(100);
  sending = false;
  await pump;
  await sender.messages(sent - 10, 10000);
  const last = sent;
  await alice.take(1, (f) => f.type === 'message' && f.room === 'busy' && f.id === last, 10000, `message ${last}`);

  assert.deepEqual(idsIn(alice, 'busy'), range(5, last), 'busy: ids after since, each once, in order');
  assert.deepEqual(idsIn(alice, 'quiet'), range(1, 5), 'quiet: the whole room (since 0)');
  const busyHistory = alice.received.filter(of('history', 'busy'));
  assert.ok(busyHistory.length >= 1 && busyHistory[0].messages[0].id === 5, JSON.stringify(busyHistory[0]));
  await Promise.all([alice.close(), sender.close(), other.close()]);
});

test('two rooms interleaved on one connection keep their own orders', { timeout: 30000 }, async () => {
  const alice = await multi('Alice3');
  await subscribe(alice, 'red');
  await subscribe(alice, 'blue');
  const red = await srv.connect('red', 'Red');
  const blue = await srv.connect('blue', 'Blue');
  const N = 50;
  for (let i = 0; i < N; i++) {
    red.send({ content: `r${i}` });
    blue.send({ content: `b${i}` });
    alice.send({ room: i % 2 ? 'red' : 'blue', content: `a${i}` });
  }
  const got = await alice.messages(3 * N, 10000);
  const byRoom = { red: [], blue: [] };
  for (const m of got) byRoom[m.room].push(m);
  assert.equal(byRoom.red.length, N + N / 2);
  assert.equal(byRoom.blue.length, N + N / 2);
  for (const room of ['red', 'blue']) {
    assert.deepEqual(byRoom[room].map((m) => m.id), range(1, byRoom[room].length), `${room}: ids in order`);
    const own = room === 'red' ? 'r' : 'b';
    assert.deepEqual(byRoom[room].filter((m) => m.username !== 'Alice3').map((m) => m.content),
      range(0, N - 1).map((i) => `${own}${i}`), `${room}: its own messages only`);
  }
  // The rooms' own members see the same order as the multiplexed connection.
  const redSeen = await red.messages(N + N / 2, 10000);
  assert.deepEqual(redSeen.map((m) => m.content), byRoom.red.map((m) => m.content));
  await Promise.all([alice.close(), red.close(), blue.close()]);
});

test(`at most --max-rooms-per-connection rooms (${MAX_ROOMS})`, async () => {
  const c = await multi('Greedy');
  for (let i = 0; i < MAX_ROOMS; i++) await subscribe(c, `g${i}`);
  c.send({ type: 'subscribe', room: 'one-too-many' });
  const e = await c.nextError();
  assert.deepEqual({ code: e.code, room: e.room }, { code: 'too_many_rooms', room: 'one-too-many' });
  c.send({ type: 'unsubscribe', room: 'g0' });
  await c.next((f) => f.type === 'unsubscribed');
  await subscribe(c, 'one-too-many');
  assert.ok(metricValue(await srv.metrics(), 'parley_rejected_total', { reason: 'too_many_rooms' }) >= 1);
  await c.close();
});

test('one outbound queue across rooms: a reader that stops reading is cut with 4008', { timeout: 60000 }, async (t) => {
  const before4008 = metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4008 });
  const stuck = await rawConnect(srv.port, '/ws?username=Stuck', { pauseAfterHandshake: true });
  for (const room of ['slow-a', 'slow-b']) stuck.sendFrame(0x1, JSON.stringify({ type: 'subscribe', room }));
  const a = await srv.connect('slow-a', 'SenderA');
  const b = await srv.connect('slow-b', 'SenderB');
  await sleep(200);
  const body = 'z'.repeat(3000);
  let sent = 0;
  let cut = 0;
  // Both rooms fill the same queue; each room alone stays under the bound per batch.
  while (sent < 4000) {
    for (let i = 0; i < 10; i++, sent++) (i % 2 ? a : b).send({ content: `${sent} ${body}` });
    await Promise.all([a.messages(5, 20000), b.messages(5, 20000)]);
    cut = metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4008 }) - before4008;
    if (cut >= 1) break;
  }
  t.diagnostic(`cut after ${sent} messages over two rooms`);
  assert.ok(cut >= 1, `no 4008 after ${sent} messages to a reader that never reads`);
  stuck.resume();
  const end = await Promise.race([stuck.ended, sleep(10000).then(() => null)]);
  assert.ok(end, 'the slow connection was not closed');
  const close = stuck.frames.find((f) => f.opcode === 0x8);
  if (close) assert.equal(close.code, 4008);
  const rooms = new Set(stuck.frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.text).room));
  assert.deepEqual([...rooms].sort(), ['slow-a', 'slow-b'], 'it was fed by both rooms');
  assert.equal(a.closeInfo, null);
  assert.equal(b.closeInfo, null);
  await Promise.all([a.close(), b.close()]);
});

test('bad input: each refusal says why (and which room), and the connection goes on', async () => {
  const c = await multi('Clumsy');
  await subscribe(c, 'ok-room');
  const cases = [
    [{ content: 'no room' }, 'invalid_message', undefined],
    [{ type: 'typing', state: true }, 'invalid_message', undefined],
    [{ type: 'subscribe' }, 'invalid_message', undefined],
    [{ room: 42, content: 'x' }, 'invalid_room', undefined],
    [{ type: 'subscribe', room: 'bad room' }, 'invalid_room', 'bad room'],
    [{ type: 'subscribe', room: 'x'.repeat(65) }, 'invalid_room', 'x'.repeat(65)],
    [{ room: 'elsewhere', content: 'x' }, 'not_subscribed', 'elsewhere'],
    [{ room: 'elsewhere', type: 'history' }, 'not_subscribed', 'elsewhere'],
    [{ type: 'unsubscribe', room: 'elsewhere' }, 'not_subscribed', 'elsewhere'],
    [{ type: 'subscribe', room: 'ok-room' }, 'already_subscribed', 'ok-room'],
    [{ type: 'subscribe', room: 'other', since: 'yesterday' }, 'invalid_message', 'other'],
    [{ room: 'ok-room', content: '' }, 'empty_content', 'ok-room'],
    [{ type: 'dance', room: 'ok-room' }, 'unknown_type', undefined],
  ];
  for (const [frame, code, room] of cases) {
    c.send(frame);
    const e = await c.nextError();
    assert.deepEqual({ code: e.code, room: e.room }, { code, room }, JSON.stringify(frame));
  }
  c.send('{not json');
  assert.equal((await c.nextError()).code, 'invalid_json');
  c.send({ room: 'ok-room', content: 'still fine' });
  assert.equal((await c.next(of('message', 'ok-room'))).content, 'still fine');
  const samples = await srv.metrics();
  for (const reason of ['not_subscribed', 'already_subscribed', 'invalid_room'])
    assert.ok(metricValue(samples, 'parley_rejected_total', { reason }) >= 1, reason);

  // On a room's own endpoint nothing changes: `room` is ignored, subscribe is unknown.
  const plain = await srv.connect('ok-room', 'Plain');
  plain.send({ room: 'elsewhere', content: 'goes to ok-room' });
  const m = await plain.nextMessage();
  assert.deepEqual({ room: m.room, content: m.content }, { room: 'ok-room', content: 'goes to ok-room' });
  plain.send({ type: 'subscribe', room: 'elsewhere' });
  assert.equal((await plain.nextError()).code, 'unknown_type');
  await Promise.all([c.close(), plain.close()]);
});
