// Presence and typing indicators, with real clients (docs/PROTOCOL.md: "Typing indicator",
// "Order on join", "presence", "join / leave", "typing", "Large rooms",
// GET /api/rooms/{room}/presence):
//   - join/leave order and fields: the joiner gets its own join; history, then presence, then live;
//   - a user with several tabs is one member (one join, one leave, counted once);
//   - typing: relayed to the others only, ends by itself after 6 s, before a message, before a
//     leave; rate limited; a non-boolean state is invalid_message;
//   - leave on an abrupt disconnect (TCP reset) and on a keep-alive timeout;
//   - the large-room cap: above 1,000 users, presence_summary frames instead of join/leave;
//   - --db none.
// The servers run with --threads 2 (startServer's default) and the tests use several room names
// and several clients, so a room's home shard and its members' shards differ in some of them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, request, metricValue, sleep, withTimeout, fileTimeout } from './server.mjs';
import { rawConnect } from './client.mjs';

fileTimeout(180000);

const ISO_MS_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function assertTimestamp(ts, what) {
  assert.match(String(ts), ISO_MS_Z, `${what}: timestamp ${JSON.stringify(ts)} is not ISO UTC with ms and Z`);
  const skew = Math.abs(Date.parse(ts) - Date.now());
  assert.ok(skew < 10000, `${what}: timestamp ${ts} is ${skew} ms away from now`);
}

// A join/leave frame: exactly {type, username, timestamp, room}.
function assertMembership(f, type, username) {
  assert.deepEqual(Object.keys(f).sort(), ['room', 'timestamp', 'type', 'username'], `${type} frame: ${f.raw}`);
  assert.equal(f.type, type, f.raw);
  assert.equal(f.username, username, f.raw);
  assertTimestamp(f.timestamp, `${type}(${username})`);
}

function assertPresence(f, users, what) {
  assert.equal(f?.type, 'presence', `${what}: expected a presence frame, got ${f?.raw ?? JSON.stringify(f)}`);
  assert.ok(Array.isArray(f.users), `${what}: users is not an array: ${f.raw}`);
  assert.deepEqual([...f.users].sort(), [...users].sort(), `${what}: ${f.raw}`);
  assert.equal(f.count, users.length, `${what}: ${f.raw}`);
  assert.equal(f.truncated, undefined, `${what}: truncated set below the cap: ${f.raw}`);
}

const isJoin = (u) => (f) => f.type === 'join' && f.username === u;
const isLeave = (u) => (f) => f.type === 'leave' && f.username === u;
const isTyping = (u, state) => (f) => f.type === 'typing' && f.username === u && (state === undefined || f.state === state);
const count = (c, pred) => c.received.filter(pred).length;
const types = (c) => c.received.map((f) => (f.username ? `${f.type}(${f.username}${f.type === 'typing' ? `:${f.state}` : ''})` : f.type));

// GET /api/rooms/{room}/presence once.
async function httpPresence(srv, room) {
  const r = await request(srv.port, `/api/rooms/${encodeURIComponent(room)}/presence`);
  assert.equal(r.status, 200, `GET presence of ${room}: ${r.status} ${r.body}`);
  return r.json;
}

// Polls GET /api/rooms/{room}/presence (eventually consistent) until it lists exactly `users`,
// then asserts on the last answer either way.
async function expectHttpPresence(srv, room, users, timeoutMs = 2000) {
  const want = JSON.stringify([...users].sort());
  const deadline = Date.now() + timeoutMs;
  let j;
  for (;;) {
    j = await httpPresence(srv, room);
    if ((JSON.stringify([...(j?.users ?? [])].sort()) === want && j.count === users.length) || Date.now() > deadline) break;
    await sleep(25);
  }
  assert.equal(j.room, room, JSON.stringify(j));
  assert.deepEqual([...j.users].sort(), [...users].sort(), `GET /api/rooms/${room}/presence: ${JSON.stringify(j)}`);
  assert.equal(j.count, users.length, `GET /api/rooms/${room}/presence: ${JSON.stringify(j)}`);
}

// Connects and waits (without consuming it) for the presence frame: only then is the connection
// a member at the room's home shard. A client whose 101 has arrived may not be registered yet, and
// a user who joins in that window is announced to it by its presence list, not by a join frame.
async function enter(srv, room, username, opts = { keepEvents: true }) {
  const c = await srv.connect(room, username, opts);
  const deadline = Date.now() + 5000;
  while (!c.received.some((f) => f.type === 'presence')) {
    if (Date.now() > deadline) throw new Error(`${username} in ${room}: no presence frame within 5 s: ${JSON.stringify(c.received)}`);
    await sleep(5);
  }
  return c;
}

// Several room names: with two shards, some of them have a home shard other than some of their
// members' (the kernel spreads the connections over the shards).
const ROOMS = ['lobby', 'lobby.2', 'lobby_3', 'lobby-4'];

describe('default server (--threads 2, SQLite)', () => {
  let srv;
  before(async () => { srv = await startServer(); }); // --threads 2
  after(async () => { await srv?.stop(); });

  for (const room of ROOMS) {
    test(`join/leave order: history, presence, then live; the joiner gets its own join (room ${room})`, { timeout: 20000 }, async () => {
      const opts = { keepHistory: true, keepEvents: true };
      const a = await enter(srv, room, 'Ann', opts);
      assert.equal((await a.next((f) => f.type === 'history')).type, 'history');
      assertPresence(await a.next((f) => f.type === 'presence'), ['Ann'], 'Ann alone');
      assertMembership(await a.next(isJoin('Ann')), 'join', 'Ann');
      await expectHttpPresence(srv, room, ['Ann']);

      a.send({ content: `hello ${room}` });
      const m = await a.nextMessage();

      const b = await enter(srv, room, 'Bob', opts);
      // Bob: history (with Ann's message), then presence (Ann and Bob), then live: join(Bob).
      assertMembership(await b.next(isJoin('Bob')), 'join', 'Bob');
      assert.deepEqual(types(b).slice(0, 3), ['history', 'presence', 'join(Bob)'], `Bob's first frames: ${types(b)}`);
      assert.deepEqual(b.received[0].messages.map((x) => x.id), [m.id], `Bob's history: ${b.received[0].raw}`);
      assertPresence(b.received[1], ['Ann', 'Bob'], "Bob's presence");
      // Ann: join(Bob).
      assertMembership(await a.next(isJoin('Bob')), 'join', 'Bob');
      await expectHttpPresence(srv, room, ['Ann', 'Bob']);

      // Live traffic after the join.
      b.send({ content: 'hi Ann' });
      assert.equal((await a.nextMessage()).content, 'hi Ann');
      assert.equal((await b.nextMessage()).content, 'hi Ann');

      await b.close();
      assertMembership(await a.next(isLeave('Bob')), 'leave', 'Bob');
      await expectHttpPresence(srv, room, ['Ann']);

      await sleep(200);
      assert.equal(count(a, isJoin('Bob')), 1, `Ann's frames: ${types(a)}`);
      assert.equal(count(a, isLeave('Bob')), 1, `Ann's frames: ${types(a)}`);
      assert.equal(count(b, isJoin('Bob')), 1, `Bob's frames: ${types(b)}`);
      assert.equal(count(a, (f) => f.type === 'presence'), 1, `Ann got more than one presence frame: ${types(a)}`);
      assert.equal(a.queue.length, 0, `extra frames for Ann: ${JSON.stringify(a.queue)}`);
      await a.close();
      await expectHttpPresence(srv, room, []);
    });
  }

  test('join/leave wait at most a second (250 ms after a quiet second), and never pass a message (docs/PROTOCOL.md "join / leave")', { timeout: 20000 }, async (t) => {
    const room = 'deferred';
    const opts = { keepEvents: true };
    const a = await enter(srv, room, 'Ada', opts);
    await a.next(isJoin('Ada'));
    // Bob speaks the moment he is in: Ada gets his join first, then his message.
    const t0 = Date.now();
    const b = await enter(srv, room, 'Bob', opts);
    b.send({ content: 'first words' });
    const first = await a.next((f) => isJoin('Bob')(f) || f.type === 'message');
    assert.ok(isJoin('Bob')(first), `Ada got ${first.raw} before Bob's join`);
    assert.equal((await a.nextMessage()).content, 'first words');
    // Carol joins and says nothing: her join still comes, within the deferral (+ slack).
    const t1 = Date.now();
    const c = await enter(srv, room, 'Cyd', opts);
    await a.next(isJoin('Cyd'));
    const joinDelay = Date.now() - t1;
    t.diagnostic(`join after ${joinDelay} ms`);
    assert.ok(joinDelay < 1500, `join(Cyd) took ${joinDelay} ms`);
    // Bob's last message arrives before his leave.
    b.send({ content: 'bye' });
    await b.close();
    assert.equal((await a.nextMessage()).content, 'bye');
    await a.next(isLeave('Bob'));
    assert.ok(Date.now() - t0 < 10000);
    await c.close();
    await a.close();
  });

  test('a crowd joining costs each member about one write a second (docs/PROTOCOL.md "join / leave")', { timeout: 30000 }, async (t) => {
    const room = 'crowd';
    const a = await enter(srv, room, 'Ada');
    await a.next(isJoin('Ada'));
    // When each join from the others reached Ada, and when it happened (the frame's timestamp).
    const seen = [];
    a.ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'join' && f.username !== 'Ada') seen.push({ at: Date.now(), event: Date.parse(f.timestamp) });
    });
    await sleep(1200); // a quiet second: the first batch is due within 250 ms
    const crowd = [];
    for (let i = 0; i < 16; i++) {
      crowd.push(await enter(srv, room, `crowd${i}`));
      await sleep(100);
    }
    const deadline = Date.now() + 5000;
    while (seen.length < crowd.length && Date.now() < deadline) await sleep(20);
    assert.equal(seen.length, crowd.length, 'every join reached Ada');
    // Writes show as bursts of frames separated by silence.
    let bursts = 0;
    let last = -Infinity;
    for (const s of seen) {
      if (s.at - last > 150) bursts++;
      last = s.at;
    }
    const delays = seen.map((s) => s.at - s.event);
    t.diagnostic(`16 joins over ${seen.at(-1).event - seen[0].event} ms: ${bursts} bursts, delays ${delays.join(' ')} ms`);
    assert.ok(seen[0].at - seen[0].event < 800, `the first join after a quiet second took ${seen[0].at - seen[0].event} ms`);
    assert.ok(Math.max(...delays) < 1800, `a join waited ${Math.max(...delays)} ms (at most 1 s + slack)`);
    // One batch every 250 ms would be 7 or more over ~1.6 s; one a second after the first, 3.
    assert.ok(bursts <= 4, `${bursts} bursts: the batches after the first are not a second apart`);
    for (const c of crowd) await c.close();
    await a.close();
  });

  for (const room of ROOMS) {
    test(`three tabs are one member: one join, counted once, one leave after the last tab (room tabs-${room})`, { timeout: 20000 }, async () => {
      const r = `tabs-${room}`;
      const opts = { keepEvents: true };
      const a = await enter(srv, r, 'Ann', opts);
      const b = await enter(srv, r, 'Bob', opts);
      await a.next(isJoin('Bob'));
      await expectHttpPresence(srv, r, ['Ann', 'Bob']);

      const tabs = [];
      for (let i = 0; i < 3; i++) {
        tabs.push(await enter(srv, r, 'Cat', opts));
        const p = await tabs[i].next((f) => f.type === 'presence');
        assertPresence(p, ['Ann', 'Bob', 'Cat'], `presence of Cat's tab ${i + 1}`);
        await expectHttpPresence(srv, r, ['Ann', 'Bob', 'Cat']);
      }
      assertMembership(await a.next(isJoin('Cat')), 'join', 'Cat');
      assertMembership(await b.next(isJoin('Cat')), 'join', 'Cat');
      assertMembership(await tabs[0].next(isJoin('Cat')), 'join', 'Cat');
      // A fourth connection makes sure every join the tabs caused has been fanned out.
      const probe = await enter(srv, r, 'Dan', opts);
      await a.next(isJoin('Dan'));
      await Promise.all(tabs.map((t) => t.next(isJoin('Dan'))));
      assertPresence(await probe.next((f) => f.type === 'presence'), ['Ann', 'Bob', 'Cat', 'Dan'], "Dan's presence");
      await probe.close();
      await a.next(isLeave('Dan'));
      for (const c of [a, b, ...tabs]) {
        assert.equal(count(c, isJoin('Cat')), c === tabs[1] || c === tabs[2] ? 0 : 1, `join(Cat) count; frames: ${types(c)}`);
      }

      // Two tabs closed: Cat is still there.
      await tabs[0].close();
      await tabs[1].close();
      await sleep(400);
      await expectHttpPresence(srv, r, ['Ann', 'Bob', 'Cat']);
      assert.equal(count(a, isLeave('Cat')), 0, `leave(Cat) with a tab still open: ${types(a)}`);
      assert.equal(count(b, isLeave('Cat')), 0, `leave(Cat) with a tab still open: ${types(b)}`);
      const late = await enter(srv, r, 'Eve', opts);
      assertPresence(await late.next((f) => f.type === 'presence'), ['Ann', 'Bob', 'Cat', 'Eve'], "Eve's presence");

      // The last tab closed: one leave(Cat).
      await tabs[2].close();
      assertMembership(await a.next(isLeave('Cat')), 'leave', 'Cat');
      assertMembership(await b.next(isLeave('Cat')), 'leave', 'Cat');
      assertMembership(await late.next(isLeave('Cat')), 'leave', 'Cat');
      await expectHttpPresence(srv, r, ['Ann', 'Bob', 'Eve']);
      await sleep(300);
      assert.equal(count(a, isLeave('Cat')), 1, types(a));
      assert.equal(count(b, isLeave('Cat')), 1, types(b));

      await Promise.all([a.close(), b.close(), late.close()]);
      await expectHttpPresence(srv, r, []);
    });
  }

  test('GET /api/rooms/{room}/presence of a room nobody is in', { timeout: 5000 }, async () => {
    const j = await httpPresence(srv, 'nobody-here');
    assert.deepEqual(j, { room: 'nobody-here', users: [], count: 0 });
  });

  // Ann (two tabs), Bob and Dan in a room, Zoe in another room; everyone keeps its events inbox.
  async function typingRoom(room) {
    const opts = { keepEvents: true };
    const ann = await enter(srv, room, 'Ann', opts);
    const ann2 = await enter(srv, room, 'Ann', opts);
    const bob = await enter(srv, room, 'Bob', opts);
    const dan = await enter(srv, room, 'Dan', opts);
    const zoe = await enter(srv, `${room}-other`, 'Zoe', opts);
    await Promise.all([ann, ann2, bob].map((c) => c.next(isJoin('Dan'))));
    await dan.next(isJoin('Dan'));
    const all = [ann, ann2, bob, dan, zoe];
    return { ann, ann2, bob, dan, zoe, all, close: () => Promise.all(all.map((c) => c.close())) };
  }

  test('typing is relayed to the other members, not to the typer\'s own tabs nor other rooms', { timeout: 20000 }, async () => {
    const { ann, ann2, bob, dan, zoe, close } = await typingRoom('typing-relay');
    ann.send({ type: 'typing', state: true });
    for (const c of [bob, dan]) {
      const f = await c.next(isTyping('Ann'));
      assert.deepEqual(f, { type: 'typing', username: 'Ann', state: true, room: 'typing-relay' }, f.raw);
    }
    await sleep(150); // past the 100 ms gap of the rate limit
    ann.send({ type: 'typing', state: false });
    for (const c of [bob, dan]) {
      const f = await c.next(isTyping('Ann'));
      assert.deepEqual(f, { type: 'typing', username: 'Ann', state: false, room: 'typing-relay' }, f.raw);
    }
    // Bob types too: Ann's two tabs and Dan get it, Bob does not.
    bob.send({ type: 'typing', state: true });
    for (const c of [ann, ann2, dan]) assert.equal((await c.next(isTyping('Bob'))).state, true);
    await sleep(300);
    assert.equal(count(ann, isTyping('Ann')), 0, `Ann's first tab got her own typing: ${types(ann)}`);
    assert.equal(count(ann2, isTyping('Ann')), 0, `Ann's second tab got her own typing: ${types(ann2)}`);
    assert.equal(count(bob, isTyping('Bob')), 0, `Bob got his own typing: ${types(bob)}`);
    assert.equal(count(zoe, (f) => f.type === 'typing'), 0, `typing leaked to another room: ${types(zoe)}`);
    assert.equal(count(bob, isTyping('Ann')), 2, types(bob));
    assert.equal(count(dan, isTyping('Ann')), 2, types(dan));
    await close();
  });

  test('a typing true ends by itself after ~6 s', { timeout: 20000 }, async (t) => {
    const { ann, ann2, bob, dan, close } = await typingRoom('typing-expiry');
    const t0 = Date.now();
    ann.send({ type: 'typing', state: true });
    assert.equal((await bob.next(isTyping('Ann'))).state, true);
    const f = await bob.next(isTyping('Ann'), 10000, 'typing(Ann) false by expiry');
    const took = Date.now() - t0;
    t.diagnostic(`typing false after ${took} ms`);
    assert.equal(f.state, false, f.raw);
    assert.ok(took >= 5500 && took <= 8000, `typing expired after ${took} ms, expected 5.5-8 s`);
    assert.deepEqual((await dan.take(2, isTyping('Ann'))).map((x) => x.state), [true, false]);
    await sleep(200);
    assert.equal(count(ann, isTyping('Ann')) + count(ann2, isTyping('Ann')), 0, 'the typer got the expiry');
    assert.equal(count(bob, isTyping('Ann')), 2, types(bob));
    await close();
  });

  test('a refresh of true extends the 6 s and is not relayed again', { timeout: 25000 }, async (t) => {
    const { ann, bob, close } = await typingRoom('typing-refresh');
    ann.send({ type: 'typing', state: true });
    assert.equal((await bob.next(isTyping('Ann'))).state, true);
    await sleep(4000);
    const t1 = Date.now();
    ann.send({ type: 'typing', state: true }); // refresh: nothing relayed, deadline moves
    const f = await bob.next(isTyping('Ann'), 10000, 'typing(Ann) false after the refresh');
    const took = Date.now() - t1;
    t.diagnostic(`typing false ${took} ms after the refresh`);
    assert.equal(f.state, false, f.raw);
    assert.ok(took >= 5500 && took <= 8000, `typing expired ${took} ms after the refresh, expected 5.5-8 s`);
    assert.equal(count(bob, isTyping('Ann')), 2, `Bob's frames: ${types(bob)}`);
    await close();
  });

  test('sending a message ends typing: the false comes before the message', { timeout: 15000 }, async () => {
    const { ann, ann2, bob, dan, close } = await typingRoom('typing-message');
    ann.send({ type: 'typing', state: true });
    assert.equal((await bob.next(isTyping('Ann'))).state, true);
    await dan.next(isTyping('Ann'));
    ann.send({ content: 'done typing' });
    for (const c of [bob, dan]) {
      const m = await c.nextMessage();
      assert.equal(m.content, 'done typing');
      const seq = c.received.filter((x) => isTyping('Ann')(x) || x.type === 'message').map((x) => (x.type === 'message' ? 'message' : `typing:${x.state}`));
      assert.deepEqual(seq, ['typing:true', 'typing:false', 'message'], `order seen by a member: ${types(c)}`);
    }
    await ann.nextMessage();
    await ann2.nextMessage();
    await sleep(200);
    assert.equal(count(ann, isTyping('Ann')) + count(ann2, isTyping('Ann')), 0, 'the typer got her own typing false');
    await close();
  });

  test('leaving ends typing: typing false, then leave', { timeout: 15000 }, async () => {
    const opts = { keepEvents: true };
    const bob = await enter(srv, 'typing-leave', 'Bob', opts);
    const ann = await enter(srv, 'typing-leave', 'Ann', opts);
    await bob.next(isJoin('Ann'));
    ann.send({ type: 'typing', state: true });
    assert.equal((await bob.next(isTyping('Ann'))).state, true);
    ann.terminate(); // disconnects without a close frame
    assertMembership(await bob.next(isLeave('Ann')), 'leave', 'Ann');
    const seq = bob.received.filter((x) => isTyping('Ann')(x) || isLeave('Ann')(x)).map((x) => (x.type === 'leave' ? 'leave' : `typing:${x.state}`));
    assert.deepEqual(seq, ['typing:true', 'typing:false', 'leave'], `Bob's frames: ${types(bob)}`);
    await bob.close();
  });

  test('typing is rate limited: 20 true frames in 100 ms are relayed once', { timeout: 15000 }, async () => {
    const { ann, bob, dan, close } = await typingRoom('typing-rate');
    const before = metricValue(await srv.metrics(), 'parley_rejected_total', { reason: 'rate_limited' });
    for (let i = 0; i < 20; i++) {
      ann.send({ type: 'typing', state: true });
      await sleep(5);
    }
    assert.equal((await bob.next(isTyping('Ann'))).state, true);
    await sleep(1000);
    assert.equal(count(bob, isTyping('Ann')), 1, `Bob's frames: ${types(bob)}`);
    assert.equal(count(dan, isTyping('Ann')), 1, `Dan's frames: ${types(dan)}`);
    assert.equal(count(ann, (f) => f.type === 'error'), 0, `the dropped frames were answered: ${types(ann)}`);
    const afterCount = metricValue(await srv.metrics(), 'parley_rejected_total', { reason: 'rate_limited' });
    assert.equal(afterCount - before, 19, `rate_limited went from ${before} to ${afterCount}`);
    await close();
  });

  test('typing with a state that is not a boolean is invalid_message; the connection stays open', { timeout: 15000 }, async () => {
    const { ann, bob, close } = await typingRoom('typing-invalid');
    for (const frame of [{ type: 'typing', state: 'yes' }, { type: 'typing', state: 1 }, { type: 'typing', state: null }, { type: 'typing' }]) {
      ann.send(frame);
      const e = await ann.nextError();
      assert.equal(e.code, 'invalid_message', `${JSON.stringify(frame)} → ${e.raw}`);
    }
    ann.send({ content: 'still open' });
    assert.equal((await bob.nextMessage()).content, 'still open');
    await sleep(200);
    assert.equal(count(bob, isTyping('Ann')), 0, `an invalid typing frame was relayed: ${types(bob)}`);
    assert.equal(ann.closeInfo, null);
    await close();
  });

  test('a client whose TCP connection is reset leaves within ~2 s', { timeout: 15000 }, async (t) => {
    const bob = await enter(srv, 'abrupt', 'Bob', { keepEvents: true });
    const r = await rawConnect(srv.port, '/ws/abrupt?username=Reset');
    await bob.next(isJoin('Reset'));
    await expectHttpPresence(srv, 'abrupt', ['Bob', 'Reset']);
    const t0 = Date.now();
    r.socket.resetAndDestroy();
    assertMembership(await bob.next(isLeave('Reset'), 2500, 'leave(Reset) after the TCP reset'), 'leave', 'Reset');
    t.diagnostic(`leave after ${Date.now() - t0} ms`);
    assert.ok(Date.now() - t0 <= 2000, `leave after ${Date.now() - t0} ms`);
    await expectHttpPresence(srv, 'abrupt', ['Bob']);
    await bob.close();
  });
});

describe('keep-alive server (--ping-interval 1 --idle-timeout 2)', () => {
  let srv;
  before(async () => { srv = await startServer({ args: ['--ping-interval', '1', '--idle-timeout', '2'] }); });
  after(async () => { await srv?.stop(); });

  test('a client that goes silent (no pong, no FIN) leaves within ~5 s', { timeout: 15000 }, async (t) => {
    const bob = await enter(srv, 'silent', 'Bob', { keepEvents: true }); // ws answers pings
    const r = await rawConnect(srv.port, '/ws/silent?username=Mute'); // never answers, never closes
    // Measured from Mute's connect: the room is busy (Bob just joined), so join(Mute) reaches
    // Bob with the room's next batch, up to a second later, and so may leave(Mute).
    const t0 = Date.now();
    await bob.next(isJoin('Mute'));
    assertMembership(await bob.next(isLeave('Mute'), 7000, 'leave(Mute) after the keep-alive timeout'), 'leave', 'Mute');
    const took = Date.now() - t0;
    const close = r.frames.find((f) => f.opcode === 0x8);
    t.diagnostic(`leave after ${took} ms; close frame ${close ? close.code : 'none'}`);
    assert.ok(took >= 1900 && took <= 6000, `leave after ${took} ms`);
    assert.equal(bob.closeInfo, null, 'the observer (answering pings) was closed too');
    await expectHttpPresence(srv, 'silent', ['Bob']);
    r.socket.destroy();
    await bob.close();
  });

  test('a reset raw client leaves within ~2 s here too', { timeout: 15000 }, async () => {
    const bob = await enter(srv, 'silent-reset', 'Bob', { keepEvents: true });
    const r = await rawConnect(srv.port, '/ws/silent-reset?username=Gone');
    await bob.next(isJoin('Gone'));
    r.socket.resetAndDestroy();
    assertMembership(await bob.next(isLeave('Gone'), 2000, 'leave(Gone) after the TCP reset'), 'leave', 'Gone');
    await bob.close();
  });
});

describe('--db none', () => {
  let srv;
  before(async () => { srv = await startServer({ args: ['--db', 'none'] }); });
  after(async () => { await srv?.stop(); });

  test('presence, join/leave and typing work without a store', { timeout: 15000 }, async () => {
    const opts = { keepHistory: true, keepEvents: true };
    const a = await enter(srv, 'nodb', 'Ann', opts);
    assertPresence(await a.next(), ['Ann'], 'Ann alone (first frame, no history)');
    assertMembership(await a.next(isJoin('Ann')), 'join', 'Ann');
    const b = await enter(srv, 'nodb', 'Bob', opts);
    assertMembership(await b.next(isJoin('Bob')), 'join', 'Bob');
    assert.deepEqual(types(b).slice(0, 2), ['presence', 'join(Bob)'], `Bob's first frames: ${types(b)}`);
    assertPresence(b.received[0], ['Ann', 'Bob'], "Bob's presence");
    assertMembership(await a.next(isJoin('Bob')), 'join', 'Bob');
    await expectHttpPresence(srv, 'nodb', ['Ann', 'Bob']);

    b.send({ type: 'typing', state: true });
    assert.equal((await a.next(isTyping('Bob'))).state, true);
    b.send({ content: 'no store' });
    assert.equal((await a.next(isTyping('Bob'))).state, false);
    assert.equal((await a.nextMessage()).content, 'no store');

    await b.close();
    assertMembership(await a.next(isLeave('Bob')), 'leave', 'Bob');
    await expectHttpPresence(srv, 'nodb', ['Ann']);
    assert.equal(a.history.length + b.history.length, 0, 'history frames with --db none');
    assert.equal(count(a, (f) => f.type === 'history') + count(b, (f) => f.type === 'history'), 0);
    await a.close();
    await expectHttpPresence(srv, 'nodb', []);
  });
});

// A bare `ws` client for the crowd: frames are read (so nothing piles up on the server) but not
// parsed or kept.
function lightConnect(port, room, username) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${encodeURIComponent(room)}?username=${encodeURIComponent(username)}`,
      { perMessageDeflate: false, handshakeTimeout: 15000 });
    ws.on('error', () => {});
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => { req.destroy(); reject(new Error(`${username}: upgrade refused: HTTP ${res.statusCode}`)); });
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`${username}: closed (${code}) before open`)));
  });
}

// Opens `n` crowd members named `${prefix}${i}` into `into`, 100 handshakes at a time.
async function openCrowd(port, room, n, prefix, into) {
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < n) {
      const i = nextIndex++;
      into.push(await lightConnect(port, room, `${prefix}${i}`));
    }
  };
  await withTimeout(Promise.all(Array.from({ length: 100 }, worker)), 30000, `${n} connections`);
}

// An observer that records the presence_summary frames it gets, with their arrival times.
async function summaryObserver(srv, room) {
  const observer = await enter(srv, room, 'Observer', { keepEvents: true, timeoutMs: 10000 });
  const summaries = []; // {at, f}
  observer.ws.on('message', (d) => {
    const f = JSON.parse(d.toString());
    if (f.type === 'presence_summary') summaries.push({ at: Date.now(), f });
  });
  await observer.next(isJoin('Observer'));
  return { observer, summaries };
}

// "At most once a second": server timestamps at least 900 ms apart (arrival times 700 ms, for
// the client's own scheduling). The first summary's arrival is not compared: it can wait behind
// the crowd's join batch (~1,000 joins to each of ~1,000 members of this test process: tens of
// MB for one node loop: ~400 ms late once on a sanitizer build).
function assertSummaryRate(summaries) {
  for (let i = 1; i < summaries.length; i++) {
    const dt = Date.parse(summaries[i].f.timestamp) - Date.parse(summaries[i - 1].f.timestamp);
    const da = summaries[i].at - summaries[i - 1].at;
    assert.ok(dt >= 900 && (i === 1 || da >= 700), `summaries ${i - 1} and ${i} are ${dt} ms apart (arrived ${da} ms apart); ` +
      `all timestamps: ${JSON.stringify(summaries.map((x) => x.f.timestamp))}`);
  }
}

const CAP = 1000;

describe('large room (cap 1,000 users)', () => {
  const CROWD = 1100;
  const TRICKLE = 10; // then one join every 150 ms: summaries must still come at most once a second
  const ROOM = 'stadium';
  let srv;
  const sockets = [];
  let observer;
  let late;
  before(async () => { srv = await startServer({ args: ['--max-connections', '5000'] }); });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    observer?.terminate();
    late?.terminate();
    await srv?.stop();
  });

  test(`${CROWD} users join, a late joiner, then 200 leave at once`, { timeout: 60000 }, async (t) => {
    const t0 = Date.now();
    let summaries;
    ({ observer, summaries } = await summaryObserver(srv, ROOM));

    await openCrowd(srv.port, ROOM, CROWD, 'fan', sockets);
    const tOpen = Date.now();
    for (let i = 0; i < TRICKLE; i++) {
      sockets.push(await lightConnect(srv.port, ROOM, `trickle${i}`));
      await sleep(150);
    }
    const users = CROWD + TRICKLE + 1;

    // The observer: join(self) and joins up to the cap one by one, the rest in summaries.
    const joinsSeen = () => count(observer, (f) => f.type === 'join');
    const summaryJoined = () => summaries.reduce((s, x) => s + x.f.joined, 0);
    const deadline = Date.now() + 5000;
    while (joinsSeen() + summaryJoined() < users && Date.now() < deadline) await sleep(50);
    t.diagnostic(`${CROWD} opened in ${tOpen - t0} ms; observer: ${joinsSeen()} joins, ${summaries.length} summaries ` +
      `(joined ${summaries.map((x) => x.f.joined)}) after ${Date.now() - t0} ms`);
    assert.equal(joinsSeen(), CAP, `individual joins the observer got (expected the first ${CAP} users')`);
    assert.equal(summaryJoined(), users - CAP, `joined in summaries: ${JSON.stringify(summaries.map((x) => x.f))}`);
    assert.equal(count(observer, (f) => f.type === 'leave'), 0);
    for (const { f } of summaries) {
      assert.deepEqual(Object.keys(f).sort(), ['count', 'joined', 'left', 'room', 'timestamp', 'type'], JSON.stringify(f));
      assert.equal(f.room, 'stadium', JSON.stringify(f));
      assertTimestamp(f.timestamp, 'presence_summary');
      assert.ok(f.count > CAP, `a summary while above the cap: ${JSON.stringify(f)}`);
      assert.equal(f.left, 0, JSON.stringify(f));
    }
    assert.equal(summaries.at(-1).f.count, users, JSON.stringify(summaries.at(-1).f));
    assertSummaryRate(summaries);

    // A late joiner: a truncated presence list of exactly 1,000 names.
    late = await enter(srv, ROOM, 'Latecomer', { keepEvents: true, timeoutMs: 10000 });
    const p = await late.next((f) => f.type === 'presence');
    assert.equal(p.truncated, true, `presence above the cap: ${p.raw.slice(0, 200)}`);
    assert.ok(p.count >= CAP, `count ${p.count}`);
    assert.equal(p.count, users + 1, `count ${p.count}`);
    assert.equal(p.users.length, CAP, `presence lists ${p.users.length} names`);
    assert.equal(new Set(p.users).size, CAP, 'duplicate names in the presence list');
    const http = await httpPresence(srv, ROOM);
    assert.equal(http.count, users + 1, `GET presence count: ${http.count}`);
    // Its join is in the next summary, not an individual join.
    const deadline1 = Date.now() + 3000;
    while (summaryJoined() < users + 1 - CAP && Date.now() < deadline1) await sleep(50);
    assert.equal(summaryJoined(), users + 1 - CAP, `the late joiner's join in a summary: ${JSON.stringify(summaries.map((x) => x.f))}`);
    assert.equal(summaries.at(-1).f.count, users + 1, JSON.stringify(summaries.at(-1).f));
    assert.equal(count(late, isJoin('Latecomer')), 0, 'an individual join above the cap');
    assert.equal(count(observer, isJoin('Latecomer')), 0, 'an individual join above the cap');

    // 200 leave at once: the observer gets summaries while the room is above the cap, and
    // individual leaves only once it is back at the cap.
    const before = users + 1;
    const leaving = sockets.splice(0, 200);
    const nSummaries = summaries.length;
    const tLeave = Date.now();
    for (const ws of leaving) ws.close();
    const summaryLeft = () => summaries.slice(nSummaries).reduce((s, x) => s + x.f.left, 0);
    const leavesSeen = () => count(observer, (f) => f.type === 'leave');
    const deadline2 = Date.now() + 8000;
    while (leavesSeen() + summaryLeft() < 200 && Date.now() < deadline2) await sleep(50);
    await sleep(1200); // any late extra summary or leave
    t.diagnostic(`200 closed: ${leavesSeen()} leave frames, summaries left ${summaries.slice(nSummaries).map((x) => `${x.f.left}@${x.f.count}`)} after ${Date.now() - tLeave} ms`);
    const expectSummarised = before - CAP; // the leaves that found the room above the cap
    assert.equal(summaryLeft() + leavesSeen(), 200, 'every leave counted once');
    assert.ok(Math.abs(summaryLeft() - expectSummarised) <= 1,
      `left in summaries ${summaryLeft()}, expected ${expectSummarised} (from ${before} users down to the cap)`);
    assert.ok(leavesSeen() <= 200 - expectSummarised + 1, `${leavesSeen()} individual leave frames`);
    assert.equal(summaries.slice(nSummaries).reduce((s, x) => s + x.f.joined, 0), 0);
    assert.equal(count(observer, (f) => f.type === 'join'), CAP, 'joins during the leaves');
    const httpAfter = await httpPresence(srv, ROOM);
    assert.equal(httpAfter.count, before - 200, `GET presence count after the leaves: ${httpAfter.count}`);
    assertSummaryRate(summaries);

    for (const ws of sockets) ws.terminate();
    sockets.length = 0;
    await Promise.all([observer.terminate(), late.terminate()]);
    t.diagnostic(`whole test ${Date.now() - t0} ms`);
    assert.ok(Date.now() - t0 < 40000, `took ${Date.now() - t0} ms`);
  });
});

// The summary rate must not depend on the keep-alive settings. Today the hub's tick runs at the
// keep-alive sweep period, clamp(--ping-interval / 4, 100 ms, 1 s), and sends one summary per
// tick: with --ping-interval 1 that is four summaries a second (see the report of this test).
describe('large room with --ping-interval 1', () => {
  const ROOM = 'arena';
  let srv;
  const sockets = [];
  let observer;
  before(async () => { srv = await startServer({ args: ['--max-connections', '5000', '--ping-interval', '1', '--idle-timeout', '5'] }); });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    observer?.terminate();
    await srv?.stop();
  });

  test('summaries at most once a second whatever --ping-interval is', { timeout: 40000 }, async (t) => {
    let summaries;
    ({ observer, summaries } = await summaryObserver(srv, ROOM));
    await openCrowd(srv.port, ROOM, CAP, 'fan', sockets); // the room is at the cap + 1
    for (let i = 0; i < 15; i++) {
      sockets.push(await lightConnect(srv.port, ROOM, `trickle${i}`));
      await sleep(150);
    }
    await sleep(1200);
    t.diagnostic(`summary timestamps: ${summaries.map((x) => x.f.timestamp.slice(17))}`);
    assert.equal(summaries.reduce((s, x) => s + x.f.joined, 0), 15 + 1);
    assertSummaryRate(summaries);
    for (const ws of sockets) ws.terminate();
    sockets.length = 0;
    observer.terminate();
  });
});
