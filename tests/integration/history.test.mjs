// Durable history, message ids and resume: ONE behaviour suite, run against both stores (SQLite,
// and a real PostgreSQL 15 started by postgres.mjs for this file).
//
// Covered (docs/PROTOCOL.md): the join history (last --history-on-join, oldest first, shaped like
// live messages, has_more) sent before any live frame; ids 1..n per room; continuity across a
// restart; paging over WS and HTTP with its boundaries and bad parameters; client_id echo and
// idempotent retries; GET /api/rooms; ?since= resume (exact replay, empty frame, frames of at most
// 200, resume_truncated with --max-replay, invalid_since).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, sleep, fileTimeout } from './server.mjs';
import { upgradeRequest } from './client.mjs';
import {
  sqliteFactory, postgresFactory, wsPath, getPage, fetchAllHistory, poll, range,
} from './postgres.mjs';

fileTimeout(150000);

const ids = (ms) => ms.map((m) => m.id);
// The frames this suite is about. Others (e.g. presence lists, added to the protocol separately)
// are ignored wherever frames are counted or ordered.
const OURS = new Set(['history', 'message', 'resume_truncated', 'error']);
const ours = (f) => OURS.has(f.type);
const oursOf = (frames) => frames.filter(ours);
// A message as the server wrote it (member order included): history entries must equal live frames.
const text = (m) => JSON.stringify(m);

// Sends `contents` from `client` and resolves the echoed message frames (in order).
async function sendAll(client, contents, extra = {}) {
  for (const content of contents) client.send({ content, ...extra });
  return client.messages(contents.length, 10000);
}

// Collects the history frames of a resuming client (kept in its inbox) until their messages reach
// `lastId`; resolves {frames, messages}.
async function replayUntil(client, lastId, timeoutMs = 5000) {
  const frames = [];
  const messages = [];
  const deadline = Date.now() + timeoutMs;
  while ((messages.at(-1)?.id ?? -1) < lastId) {
    const f = await client.next(ours, Math.max(1, deadline - Date.now()), `replay up to id ${lastId}`);
    assert.equal(f.type, 'history', `a replay frame was expected, got ${f.raw}`);
    frames.push(f);
    messages.push(...f.messages);
  }
  return { frames, messages };
}

// The next message frame of `client`, named for the timeout message.
const msg = (client, what, timeoutMs = 5000) => client.next((f) => f.type === 'message', timeoutMs, what);

// Connects and waits for the join history. Until it has arrived, a message others send may
// still land in that history rather than live (exactly once either way); from then on, every new
// message arrives live. History frames stay in the inbox (keepHistory), for paging answers.
async function join(srv, room, name) {
  const c = await srv.connect(room, name, { keepHistory: true });
  c.joinHistory = await c.next((f) => f.type === 'history', 5000, `${name}'s join history in ${room}`);
  return c;
}

// One paging request over WS; resolves the history frame answering it.
async function wsPage(client, before, limit) {
  const req = { type: 'history' };
  if (before !== undefined) req.before = before;
  if (limit !== undefined) req.limit = limit;
  client.send(req);
  return client.next((f) => f.type === 'history' || f.type === 'error', 5000, `the answer to ${JSON.stringify(req)}`);
}

function behaviourSuite(factory) {
  describe(`history and resume on ${factory.name}`, () => {
    const servers = [];
    let shared; // one server with default flags, for the tests that need no special flag

    before(async () => { await factory.init(); });
    after(async () => {
      for (const s of servers) await s.stop();
      await factory.close();
    });

    async function server(extra = [], db) {
      db ??= await factory.newDb();
      const srv = await startServer({ args: [...db.args, ...extra] });
      servers.push(srv);
      return { srv, db };
    }
    async function sharedServer() {
      shared ??= (await server()).srv;
      return shared;
    }

    test('join history: the last N, oldest first, shaped like live messages, has_more', { timeout: 20000 }, async () => {
      const { srv } = await server(['--history-on-join', '3']);
      const ann = await join(srv, 'hist', 'Ann');
      const live = await sendAll(ann, range(1, 5).map((i) => `m${i}`));
      assert.deepEqual(ids(live), [1, 2, 3, 4, 5]);

      const bob = await srv.connect('hist', 'Bob', { keepHistory: true });
      const h = await bob.next(ours, 5000, 'the join history');
      assert.equal(h.type, 'history', `first frame: ${h.raw}`);
      assert.deepEqual(h.messages.map(text), live.slice(2).map(text), 'the last 3, oldest first, exactly as sent live');
      assert.equal(h.has_more, true, h.raw);

      // Exactly N stored: nothing older, has_more false.
      const cat = await join(srv, 'three', 'Cat');
      const three = await sendAll(cat, ['a', 'b', 'c']);
      const dan = await srv.connect('three', 'Dan', { keepHistory: true });
      const h3 = await dan.next(ours, 5000, 'the join history');
      assert.equal(h3.type, 'history', h3.raw);
      assert.deepEqual(h3.messages.map(text), three.map(text));
      assert.equal(h3.has_more, false, h3.raw);

      // Fewer than N: all of them, has_more false.
      const eve = await join(srv, 'two', 'Eve');
      const two = await sendAll(eve, ['a', 'b']);
      const fay = await srv.connect('two', 'Fay', { keepHistory: true });
      const h2 = await fay.next(ours, 5000, 'the join history');
      assert.deepEqual(h2.messages.map(text), two.map(text));
      assert.equal(h2.has_more, false, h2.raw);

      // An empty room: an empty history frame.
      const gus = await srv.connect('nothing-yet', 'Gus', { keepHistory: true });
      const h0 = await gus.next(ours, 5000, 'the join history');
      assert.equal(h0.type, 'history', h0.raw);
      assert.deepEqual(h0.messages, []);
      assert.equal(h0.has_more, false, h0.raw);

      // Exactly one history frame per join.
      await sleep(200);
      for (const c of [bob, dan, fay, gus]) {
        assert.equal(oursOf(c.received).filter((f) => f.type === 'history').length, 1, JSON.stringify(c.received).slice(0, 500));
      }
      await Promise.all([ann, bob, cat, dan, eve, fay, gus].map((c) => c.close()));
    });

    test('join history comes before any live frame, with an exact seam, in a busy room', { timeout: 30000 }, async () => {
      // 3 publishers keep the room busy while 16 clients join one after another. Each joiner's
      // first frame is the history, and history + live is one contiguous run up to the last
      // message: nothing twice, nothing missing.
      const srv = await sharedServer();
      const pubs = [];
      for (let p = 0; p < 3; p++) pubs.push(await join(srv, 'busy', `Pub${p}`));
      const sent = [0, 0, 0];
      let stop = false;
      const publishing = Promise.all(pubs.map(async (pub, p) => {
        while (!stop && sent[p] < 500) {
          pub.send({ content: `busy ${p}/${sent[p]++}` });
          await sleep(2);
        }
      }));
      const joiners = [];
      for (let j = 0; j < 16; j++) {
        await sleep(30 + Math.random() * 40);
        joiners.push(await srv.connect('busy', `J${j}`, { keepHistory: true }));
      }
      stop = true;
      await publishing;
      const total = sent.reduce((x, y) => x + y, 0);
      // Everyone's copy, by id, from the first publisher's point of view.
      const all = await poll(() => pubs[0].received.filter((f) => f.type === 'message'), (ms) => ms.length >= total, 15000);
      assert.deepEqual(ids(all), range(1, total));
      const last = total;
      const problems = [];
      for (const [j, c] of joiners.entries()) {
        await poll(() => c.received, (r) => r.some((f) => f.type === 'message' && f.id === last), 5000);
        const [first, ...rest] = oursOf(c.received);
        if (first?.type !== 'history') { problems.push(`joiner ${j}: first frame ${first?.raw?.slice(0, 100)}`); continue; }
        const other = rest.find((f) => f.type !== 'message');
        if (other) { problems.push(`joiner ${j}: a second non-message frame: ${other.raw.slice(0, 100)}`); continue; }
        const h = first.messages.map((m) => m.id);
        const l = rest.map((m) => m.id);
        const seen = [...h, ...l];
        if (JSON.stringify(seen) !== JSON.stringify(range(seen[0], last))) {
          problems.push(`joiner ${j}: history ${h[0]}..${h.at(-1)}, live ${l[0]}..${l.at(-1)} (${l.slice(0, 4)}...): ` +
            `${seen.length} ids for ${last - seen[0] + 1}`);
          continue;
        }
        // Each entry is exactly the frame everyone got live.
        for (const m of [...first.messages, ...rest]) assert.equal(text(m), text(all[m.id - 1]));
      }
      assert.deepEqual(problems, [], `joins whose history and live traffic do not meet exactly:\n${problems.join('\n')}`);
      await Promise.all([...pubs, ...joiners].map((c) => c.close()));
    });

    test('ids run 1..n per room, rooms independent, and the store has them all', { timeout: 20000 }, async () => {
      const srv = await sharedServer();
      const a = await join(srv, 'ids-a', 'Ann');
      const b = await join(srv, 'ids-b', 'Bob');
      for (let i = 0; i < 20; i++) {
        a.send({ content: `a${i}` });
        if (i % 3 === 0) b.send({ content: `b${i}` });
      }
      const ga = await a.messages(20, 10000);
      const gb = await b.messages(7, 10000);
      assert.deepEqual(ids(ga), range(1, 20));
      assert.deepEqual(ids(gb), range(1, 7));
      assert.deepEqual((await fetchAllHistory(srv.port, 'ids-a')).map(text), ga.map(text));
      assert.deepEqual((await fetchAllHistory(srv.port, 'ids-b')).map(text), gb.map(text));
      await Promise.all([a.close(), b.close()]);
    });

    test('restart (SIGTERM) keeps the history and the ids continue', { timeout: 30000 }, async () => {
      const { srv: first, db } = await server();
      const a = await join(first, 'keep', 'Ann');
      const kept = await sendAll(a, range(1, 5).map((i) => `keep ${i}`));
      const o = await join(first, 'keep-other', 'Olga');
      const other = await sendAll(o, ['o1', 'o2']);
      await first.stop();

      const { srv: second } = await server([], db);
      const b = await second.connect('keep', 'Bob', { keepHistory: true });
      const h = await b.next(ours, 5000, 'the join history after the restart');
      assert.equal(h.type, 'history', h.raw);
      assert.deepEqual(h.messages.map(text), kept.map(text), 'history after the restart');
      assert.equal(h.has_more, false);
      b.send({ content: 'after restart' });
      const m = await b.nextMessage(5000);
      assert.equal(m.id, 6, m.raw);
      const o2 = await join(second, 'keep-other', 'Olga');
      o2.send({ content: 'o3' });
      assert.equal((await o2.nextMessage(5000)).id, 3);
      assert.deepEqual((await fetchAllHistory(second.port, 'keep-other')).map((x) => x.content), ['o1', 'o2', 'o3']);
      assert.deepEqual((await fetchAllHistory(second.port, 'keep-other')).slice(0, 2).map(text), other.map(text));

      const rooms = (await request(second.port, '/api/rooms')).json;
      const byName = Object.fromEntries((rooms?.rooms ?? []).map((r) => [r.room, r]));
      assert.equal(byName.keep?.last_id, 6, JSON.stringify(rooms));
      assert.equal(byName['keep-other']?.last_id, 3, JSON.stringify(rooms));
      await Promise.all([b.close(), o2.close()]);
    });

    test('paging over WS and HTTP: page edges, before=1, limit cap, defaults', { timeout: 40000 }, async () => {
      const srv = await sharedServer();
      const p = await srv.connect('page', 'Pat', { keepHistory: true });
      await p.next((f) => f.type === 'history', 5000, 'the join history');
      const twelve = await sendAll(p, range(1, 12).map((i) => `p${i}`));
      const big = await srv.connect('page-big', 'Bea', { keepHistory: true });
      await big.next((f) => f.type === 'history', 5000, 'the join history');
      const many = await sendAll(big, range(1, 250).map((i) => `big ${i}`));
      assert.deepEqual(ids(many), range(1, 250));

      // [room, before, limit, expected ids, has_more]
      const cases = [
        ['page', undefined, undefined, range(1, 12), false],
        ['page', 13, 5, range(8, 12), true],
        ['page', 8, 5, range(3, 7), true],
        ['page', 3, 5, [1, 2], false],
        ['page', 6, 5, range(1, 5), false], // exact edge: nothing older than id 1
        ['page', 7, 5, range(2, 6), true],
        ['page', 2, 1, [1], false],
        ['page', 1, 5, [], false],
        ['page', 1000, 3, [10, 11, 12], true],
        ['page', undefined, 12, range(1, 12), false],
        ['page', undefined, 11, range(2, 12), true],
        ['page-big', undefined, undefined, range(201, 250), true], // default limit 50
        ['page-big', undefined, 500, range(51, 250), true], // capped at 200
        ['page-big', undefined, 201, range(51, 250), true],
        ['page-big', 51, 200, range(1, 50), false],
        ['page-big', 251, 200, range(51, 250), true],
        ['page-never-used', undefined, undefined, [], false],
      ];
      const all = { page: twelve, 'page-big': many, 'page-never-used': [] };
      for (const [room, beforeId, limit, want, hasMore] of cases) {
        const what = `${room} before=${beforeId} limit=${limit}`;
        const r = await getPage(srv.port, room, { before: beforeId, limit });
        assert.equal(r.status, 200, `HTTP ${what}: ${r.body.slice(0, 300)}`);
        assert.deepEqual(ids(r.json.messages), want, `HTTP ${what}`);
        assert.equal(r.json.has_more, hasMore, `HTTP ${what}: has_more`);
        assert.deepEqual(r.json.messages.map(text), want.map((id) => text(all[room][id - 1])), `HTTP ${what}: entries as sent live`);

        const ws = room === 'page-big' ? big : p;
        if (room === 'page-never-used') continue;
        const f = await wsPage(ws, beforeId, limit);
        assert.equal(f.type, 'history', `WS ${what}: ${f.raw}`);
        assert.deepEqual(ids(f.messages), want, `WS ${what}`);
        assert.equal(f.has_more, hasMore, `WS ${what}: has_more`);
        if (beforeId !== undefined) assert.equal(f.before, beforeId, `WS ${what}: before echoed: ${f.raw.slice(0, 200)}`);
        assert.deepEqual(f.messages.map(text), r.json.messages.map(text), `WS and HTTP differ for ${what}`);
      }
      // Paging never disturbed the live stream: nothing but answers arrived.
      assert.deepEqual(oursOf(p.queue), [], JSON.stringify(p.queue).slice(0, 300));
      await Promise.all([p.close(), big.close()]);
    });

    test('paging with bad numbers: HTTP 400 invalid_parameter, WS error invalid_message', { timeout: 20000 }, async () => {
      const srv = await sharedServer();
      const c = await srv.connect('page-bad', 'Bad', { keepHistory: true });
      await c.next((f) => f.type === 'history', 5000, 'the join history');
      await sendAll(c, ['one', 'two']);
      for (const q of ['limit=0', 'limit=-1', 'limit=abc', 'limit=1.5', 'before=-1', 'before=abc', 'before=1.5', 'limit=', 'before=']) {
        const r = await request(srv.port, `/api/rooms/page-bad/messages?${q}`);
        assert.equal(r.status, 400, `${q}: ${r.status} ${r.body}`);
        assert.equal(r.json?.error, 'invalid_parameter', `${q}: ${r.body}`);
      }
      for (const req of [
        { limit: 0 }, { limit: -1 }, { limit: 'abc' }, { limit: '5' }, { limit: 1.5 },
        { before: -1 }, { before: 'abc' }, { before: 2.5 }, { before: null },
      ]) {
        c.send({ type: 'history', ...req });
        const f = await c.next(ours, 5000, `the answer to ${JSON.stringify(req)}`);
        assert.equal(f.type, 'error', `${JSON.stringify(req)}: ${f.raw}`);
        assert.equal(f.code, 'invalid_message', `${JSON.stringify(req)}: ${f.raw}`);
      }
      // The connection stays open and paging still works; before 0 means "the newest", as over HTTP.
      const ok = await wsPage(c, undefined, 10);
      assert.deepEqual(ids(ok.messages), [1, 2], ok.raw);
      c.send({ type: 'history', before: 0, limit: 10 });
      const zero = await c.next(ours, 5000, 'the answer to before 0');
      assert.equal(zero.type, 'history', zero.raw);
      assert.deepEqual(ids(zero.messages), [1, 2], zero.raw);
      await c.close();
    });

    test('client_id: echoed, a retry is not stored or broadcast again, per user and room', { timeout: 20000 }, async () => {
      const srv = await sharedServer();
      const ann = await join(srv, 'cid', 'Ann');
      const bob = await join(srv, 'cid', 'Bob');

      ann.send({ content: 'hello', client_id: 'c1' });
      const [orig, origB] = await Promise.all([msg(ann, 'Ann: the original'), msg(bob, 'Bob: the original')]);
      assert.equal(orig.client_id, 'c1', orig.raw);
      assert.equal(orig.id, 1);
      assert.equal(orig.raw, origB.raw, 'everyone gets the same frame');

      // The retry: the sender alone gets the original back (same id, same timestamp).
      ann.send({ content: 'hello', client_id: 'c1' });
      const again = await msg(ann, 'Ann: the original back after the retry');
      assert.equal(text(again), text(orig), `retry answered ${again.raw}`);

      // Another user with the same client_id: a new message.
      bob.send({ content: 'hello', client_id: 'c1' });
      const [fromBobA, fromBobB] = await Promise.all([msg(ann, "Ann: Bob's c1"), msg(bob, "Bob: his c1")]);
      assert.equal(fromBobA.id, 2, fromBobA.raw);
      assert.equal(fromBobA.username, 'Bob');
      assert.equal(fromBobA.client_id, 'c1');
      assert.equal(fromBobA.raw, fromBobB.raw);

      // The same user and client_id in another room: a new message there.
      const annElsewhere = await join(srv, 'cid-other', 'Ann');
      annElsewhere.send({ content: 'hello', client_id: 'c1' });
      const there = await msg(annElsewhere, 'Ann in cid-other: her c1 there');
      assert.equal(there.id, 1, there.raw);
      assert.equal(there.room, 'cid-other');

      // Back-to-back duplicates (the original may still be being stored): stored once.
      ann.send({ content: 'twice', client_id: 'c2' });
      ann.send({ content: 'twice', client_id: 'c2' });
      const twiceB = await msg(bob, 'Bob: twice');
      assert.equal(twiceB.id, 3, twiceB.raw);
      // The next message: no id was used up by the duplicates.
      ann.send({ content: 'next' });
      const next = await msg(bob, 'Bob: next');
      assert.equal(next.id, 4, next.raw);
      assert.equal(next.client_id, undefined, 'no client_id when none was given');

      await sleep(300);
      assert.deepEqual(oursOf(bob.queue), [], `Bob got extra frames: ${JSON.stringify(bob.queue).slice(0, 500)}`);
      // Ann (the sender) got the c2 message (once or, for the retry, twice: the same frame) and 'next'.
      const annQ = oursOf(ann.queue);
      const annIds = annQ.map((f) => f.id);
      assert.ok(annQ.every((f) => f.type === 'message') && annIds.at(-1) === 4 &&
        annIds.slice(0, -1).every((id) => id === 3) && annIds.length >= 2, JSON.stringify(annQ));
      for (const f of annQ.filter((x) => x.id === 3)) assert.equal(f.raw, twiceB.raw);
      const stored = await fetchAllHistory(srv.port, 'cid');
      assert.deepEqual(stored.map((m) => [m.id, m.username, m.content, m.client_id]), [
        [1, 'Ann', 'hello', 'c1'], [2, 'Bob', 'hello', 'c1'], [3, 'Ann', 'twice', 'c2'], [4, 'Ann', 'next', undefined],
      ]);
      assert.equal(text(stored[0]), text(orig), 'the stored message is shaped like the live one (client_id included)');
      await Promise.all([ann, bob, annElsewhere].map((c) => c.close()));
    });

    test('client_id: a retry from a new connection of the same user (a reconnect) gets the original back', { timeout: 40000 }, async () => {
      // The reconnect-and-retry case client_id exists for. Bob keeps the room alive (the room
      // emptying is the next test). Two ways: the retry sent once the join history has arrived,
      // and sent as soon as the socket is open, while the join may still be catching up; a bulky
      // join history (50 messages of 3,900 characters) makes that window wide, and it is repeated
      // since it is a matter of timing.
      const srv = await sharedServer();
      const bob = await join(srv, 'cid-reconnect', 'Bob');
      await sendAll(bob, range(1, 60).map((i) => `${i}`.padEnd(3900, '.')));
      const ann = await join(srv, 'cid-reconnect', 'Ann');
      ann.send({ content: 'hello', client_id: 'r1' });
      const orig = await msg(ann, 'the original');
      await msg(bob, 'the original (Bob)');
      await ann.close();
      const failures = [];
      for (let i = 0; i < 8; i++) {
        const afterJoin = i < 2; // the first two wait for the join history, the others do not
        const again = await srv.connect('cid-reconnect', 'Ann', { keepHistory: true });
        if (afterJoin) await again.next((f) => f.type === 'history', 5000, 'the join history');
        again.send({ content: 'hello', client_id: 'r1' });
        try {
          const m = await again.next((f) => f.type === 'message' || f.type === 'error', 1000, 'the original back');
          if (m.raw !== orig.raw) failures.push(`attempt ${i}: got ${m.raw}`);
        } catch (err) {
          const h = oursOf(again.received).map((f) => (f.type === 'history' ? `history(ids ${f.messages[0]?.id}..${f.messages.at(-1)?.id})` : f.raw.slice(0, 100)));
          failures.push(`attempt ${i} (retry sent ${afterJoin ? 'after the join history arrived' : 'right after open'}): ` +
            `no answer within 1 s; frames received: ${h.join(', ')}`);
        }
        await again.close();
      }
      await sleep(200);
      assert.deepEqual(failures, [], `retries from a reconnected client not answered with the original (${failures.length} of 8):\n${failures.join('\n')}`);
      assert.deepEqual(oursOf(bob.queue), [], 'Bob must not see the retries');
      const stored = await fetchAllHistory(srv.port, 'cid-reconnect');
      assert.equal(stored.length, 61, 'stored once');
      assert.equal(text(stored.at(-1)), text(orig));
      await bob.close();
    });

    test('client_id: a retry after the room emptied (its only member reconnects) is not stored again', { timeout: 20000 }, async () => {
      // The doc's limits are 10 minutes, the last 1,000 per room, and not across a restart; a room
      // whose last member left (the usual single-user reconnect) is none of these.
      const srv = await sharedServer();
      const ann = await join(srv, 'cid-empty', 'Ann');
      ann.send({ content: 'hello', client_id: 'e1' });
      const orig = await ann.nextMessage();
      await ann.close();
      await sleep(200); // the server has seen the close: the room is empty
      const again = await srv.connect('cid-empty', 'Ann', { keepHistory: true });
      await again.next((f) => f.type === 'history', 5000, 'the join history');
      again.send({ content: 'hello', client_id: 'e1' });
      const m = await again.next((f) => f.type === 'message' || f.type === 'error', 5000, 'the answer to the retry');
      const stored = await fetchAllHistory(srv.port, 'cid-empty');
      assert.equal(m.raw, orig.raw, 'the retry must be answered with the original');
      assert.deepEqual(stored.map(text), [text(orig)], 'stored once');
      await again.close();
    });

    test('GET /api/rooms: rooms with members and last_id, most recent first', { timeout: 20000 }, async () => {
      const srv = await sharedServer();
      const a = await join(srv, 'r-busy', 'Ann');
      const b = await join(srv, 'r-busy', 'Bob');
      await sendAll(a, ['1', '2', '3']);
      const c = await join(srv, 'r-quiet', 'Cat');
      await sendAll(c, ['only']);
      await c.close();
      const d = await srv.connect('r-nomsg', 'Dan');
      const want = (rs) => {
        const m = Object.fromEntries((rs?.rooms ?? []).map((r) => [r.room, r]));
        return m['r-busy']?.members === 2 && m['r-quiet']?.members === 0 && m['r-nomsg']?.members === 1;
      };
      const r = await poll(async () => (await request(srv.port, '/api/rooms')).json, want, 3000);
      assert.ok(want(r), JSON.stringify(r));
      assert.equal(r.complete, true, JSON.stringify(r));
      const names = r.rooms.map((x) => x.room);
      const byName = Object.fromEntries(r.rooms.map((x) => [x.room, x]));
      assert.deepEqual(byName['r-busy'], { room: 'r-busy', members: 2, last_id: 3 });
      assert.deepEqual(byName['r-quiet'], { room: 'r-quiet', members: 0, last_id: 1 });
      assert.equal(byName['r-nomsg'].last_id, 0, JSON.stringify(byName['r-nomsg']));
      assert.ok(names.indexOf('r-quiet') < names.indexOf('r-busy'), `most recent first: ${names}`);
      await Promise.all([a.close(), b.close(), d.close()]);
    });

    test('resume with ?since=K: exactly K+1..n in history frames, then live', { timeout: 30000 }, async () => {
      const srv = await sharedServer();
      const a = await join(srv, 'res', 'Ann');
      const live = await sendAll(a, range(1, 10).map((i) => `r${i}`));

      const r = await srv.connect('res', 'Rae', { path: wsPath('res', 'Rae', 4), keepHistory: true });
      const { messages } = await replayUntil(r, 10);
      assert.deepEqual(messages.map(text), live.slice(4).map(text), 'replay after 4');
      a.send({ content: 'r11' });
      const m = await r.next(ours, 5000, 'the first live frame');
      assert.equal(m.type, 'message', m.raw);
      assert.equal(m.id, 11);

      // Nothing missed: one empty history frame, then live.
      const s = await srv.connect('res', 'Sam', { path: wsPath('res', 'Sam', 11), keepHistory: true });
      const h = await s.next(ours, 5000, 'the replay frame');
      assert.equal(h.type, 'history', h.raw);
      assert.deepEqual(h.messages, [], h.raw);
      a.send({ content: 'r12' });
      const m12 = await s.next(ours, 5000, 'the first live frame');
      assert.equal(m12.id, 12, m12.raw);

      // since=0: everything.
      const z = await srv.connect('res', 'Zed', { path: wsPath('res', 'Zed', 0), keepHistory: true });
      const all = await replayUntil(z, 12);
      assert.deepEqual(ids(all.messages), range(1, 12));

      // Over the whole connection: replay frames, then live frames, each id once.
      await sleep(300);
      for (const [c, since] of [[r, 4], [s, 11], [z, 0]]) {
        const frames = oursOf(c.received);
        let firstLive = frames.findIndex((f) => f.type !== 'history');
        if (firstLive < 0) firstLive = frames.length;
        assert.ok(frames.slice(firstLive).every((f) => f.type === 'message'), JSON.stringify(frames).slice(0, 500));
        const seen = frames.flatMap((f) => (f.type === 'history' ? f.messages : [f])).map((m) => m.id);
        assert.deepEqual(seen, range(since + 1, 12), `since=${since}: ids over the connection`);
      }
      await Promise.all([a, r, s, z].map((c) => c.close()));
    });

    test('resume replays in frames of at most 200', { timeout: 30000 }, async () => {
      const srv = await sharedServer();
      const a = await join(srv, 'res-big', 'Ann');
      const live = await sendAll(a, range(1, 450).map((i) => `rb${i}`));
      const r = await srv.connect('res-big', 'Rae', { path: wsPath('res-big', 'Rae', 7), keepHistory: true });
      const { frames, messages } = await replayUntil(r, 450, 10000);
      assert.ok(frames.every((f) => f.messages.length <= 200 && f.messages.length > 0), `frame sizes ${frames.map((f) => f.messages.length)}`);
      assert.deepEqual(messages.map(text), live.slice(7).map(text));
      assert.ok(!r.received.some((f) => f.type === 'resume_truncated'));
      await Promise.all([a.close(), r.close()]);
    });

    test('--max-replay 5 with 20 missed: resume_truncated, then the newest 5', { timeout: 20000 }, async () => {
      const { srv } = await server(['--max-replay', '5']);
      const a = await join(srv, 'trunc', 'Ann');
      const live = await sendAll(a, range(1, 25).map((i) => `t${i}`));
      const r = await srv.connect('trunc', 'Rae', { path: wsPath('trunc', 'Rae', 5), keepHistory: true });
      const t = await r.next(ours, 5000, 'resume_truncated');
      assert.equal(t.type, 'resume_truncated', t.raw);
      assert.equal(t.since, 5, t.raw);
      assert.equal(t.first_id, 21, t.raw);
      assert.equal(typeof t.message, 'string');
      const { messages } = await replayUntil(r, 25);
      assert.deepEqual(messages.map(text), live.slice(20).map(text));
      a.send({ content: 'live' });
      const m = await r.next(ours, 5000, 'the first live frame');
      assert.equal(m.id, 26, m.raw);

      // Exactly max-replay missed: no truncation.
      const e = await srv.connect('trunc', 'Eve', { path: wsPath('trunc', 'Eve', 21), keepHistory: true });
      const first = await e.next(ours, 5000, 'the replay');
      assert.equal(first.type, 'history', first.raw);
      await Promise.all([a.close(), r.close(), e.close()]);
    });

    test('?since= that is not a non-negative integer: HTTP 400 invalid_since', { timeout: 10000 }, async () => {
      const srv = await sharedServer();
      for (const since of ['abc', '-1', '1.5', '']) {
        const r = await upgradeRequest(srv.port, `/ws/res?username=x&since=${since}`);
        assert.equal(r.status, 400, `since=${since}: ${r.status} ${r.body}`);
        assert.equal(r.json?.error, 'invalid_since', `since=${since}: ${r.body}`);
      }
    });
  });
}

behaviourSuite(sqliteFactory());
behaviourSuite(postgresFactory());
