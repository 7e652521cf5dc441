// Rooms: isolation, sender included, one order per room, ids +1 per room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sleep, fileTimeout } from './server.mjs';

fileTimeout(60000);

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

const key = (m) => `${m.username}|${m.content}`;

test('three clients in two rooms, interleaved senders', { timeout: 30000 }, async () => {
  const a1 = await srv.connect('alpha', 'Ann');
  const a2 = await srv.connect('alpha', 'Abe');
  const b1 = await srv.connect('beta', 'Bea');

  // Interleave: both alpha members and the beta member send without waiting for one another.
  const N = 25;
  for (let i = 0; i < N; i++) {
    a1.send({ content: `ann ${i}` });
    a2.send({ content: `abe ${i}` });
    if (i % 2 === 0) b1.send({ content: `bea ${i}` });
  }
  const nb = Math.ceil(N / 2);

  const [g1, g2, gb] = await Promise.all([a1.messages(2 * N), a2.messages(2 * N), b1.messages(nb)]);

  // Same order for everyone in the room.
  assert.deepEqual(g1.map(key), g2.map(key), 'alpha members saw different orders');
  assert.deepEqual(g1.map((m) => m.id), g2.map((m) => m.id));

  // ids strictly increasing by one, from 1 (fresh room).
  g1.forEach((m, i) => assert.equal(m.id, i + 1, `alpha message #${i} has id ${m.id}`));
  gb.forEach((m, i) => assert.equal(m.id, i + 1, `beta message #${i} has id ${m.id}`));

  // Isolation: each room saw exactly its own messages, with the right room field.
  for (const m of g1) {
    assert.equal(m.room, 'alpha');
    assert.ok(m.username === 'Ann' || m.username === 'Abe', `alpha got ${m.raw}`);
  }
  for (const m of gb) {
    assert.equal(m.room, 'beta');
    assert.equal(m.username, 'Bea', `beta got ${m.raw}`);
  }

  // Sender included, and each sender's own messages in the order it sent them.
  const ann = g1.filter((m) => m.username === 'Ann').map((m) => m.content);
  const abe = g1.filter((m) => m.username === 'Abe').map((m) => m.content);
  assert.deepEqual(ann, Array.from({ length: N }, (_, i) => `ann ${i}`));
  assert.deepEqual(abe, Array.from({ length: N }, (_, i) => `abe ${i}`));
  assert.deepEqual(gb.map((m) => m.content), Array.from({ length: nb }, (_, i) => `bea ${2 * i}`));

  // Nothing else arrives afterwards (no cross-room leak, no duplicates).
  await sleep(300);
  assert.equal(a1.queue.length, 0, `extra frames for a1: ${JSON.stringify(a1.queue)}`);
  assert.equal(a2.queue.length, 0, `extra frames for a2: ${JSON.stringify(a2.queue)}`);
  assert.equal(b1.queue.length, 0, `extra frames for b1: ${JSON.stringify(b1.queue)}`);

  await Promise.all([a1.close(), a2.close(), b1.close()]);
});

test('a member who joins later gets only what is sent after it joined', { timeout: 15000 }, async () => {
  const early = await srv.connect('gamma', 'Early');
  early.send({ content: 'before' });
  const first = await early.nextMessage();
  const late = await srv.connect('gamma', 'Late');
  late.send({ content: 'after' });
  const [e, l] = await Promise.all([early.nextMessage(), late.nextMessage()]);
  assert.equal(e.content, 'after');
  assert.equal(l.content, 'after');
  assert.equal(l.id, first.id + 1);
  await sleep(200);
  assert.equal(late.queue.length, 0, `late member got ${JSON.stringify(late.queue)}`);
  await Promise.all([early.close(), late.close()]);
});

test('a member who left receives nothing and the room goes on', { timeout: 15000 }, async () => {
  const stay = await srv.connect('delta', 'Stay');
  const leave = await srv.connect('delta', 'Leave');
  await leave.close();
  stay.send({ content: 'still here' });
  const m = await stay.nextMessage();
  assert.equal(m.content, 'still here');
  await stay.close();
});
