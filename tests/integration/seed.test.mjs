// The original FastAPI client's exchange, unchanged: {"content": ...} in, the original's four
// fields out (in the original's order), plus Parley's id and room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, fileTimeout } from './server.mjs';

fileTimeout(30000);

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
let srv;

before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

test('seed exchange: Alice says hello in general', { timeout: 15000 }, async () => {
  const alice = await srv.connect('general', 'Alice');
  const sentAt = Date.now();
  alice.send({ content: 'Hello world!' });
  const m = await alice.nextMessage();

  assert.deepEqual(Object.keys(m).slice(0, 4), ['type', 'username', 'content', 'timestamp'],
    `field order of ${m.raw}`);
  assert.deepEqual(Object.keys(m).sort(), ['content', 'id', 'room', 'timestamp', 'type', 'username'],
    `fields of ${m.raw}`);
  assert.equal(m.type, 'message');
  assert.equal(m.username, 'Alice');
  assert.equal(m.content, 'Hello world!');
  assert.match(m.timestamp, TS);
  assert.ok(Math.abs(Date.parse(m.timestamp) - sentAt) < 5000, `timestamp ${m.timestamp} is not near now`);
  assert.ok(Number.isInteger(m.id) && m.id >= 1, `id ${m.id}`);
  assert.equal(m.room, 'general');
  // The raw text, too: the first four members come first and in this order.
  assert.match(m.raw, /^\{\s*"type"\s*:\s*"message"\s*,\s*"username"\s*:\s*"Alice"\s*,\s*"content"\s*:\s*"Hello world!"\s*,\s*"timestamp"\s*:/);

  alice.send({ content: 'second' });
  const m2 = await alice.nextMessage();
  assert.equal(m2.id, m.id + 1);
  await alice.close();
});

test('missing username is "anonymous"', { timeout: 15000 }, async () => {
  const anon = await srv.connect('general', undefined);
  anon.send({ content: 'who am I?' });
  const m = await anon.nextMessage();
  assert.equal(m.username, 'anonymous');
  assert.equal(m.content, 'who am I?');
  await anon.close();
});

test('explicit "type":"message" and extra members are accepted', { timeout: 15000 }, async () => {
  const c = await srv.connect('general', 'Carol');
  c.send({ type: 'message', content: 'typed', extra: [1, 2, 3], username: 'Mallory', room: 'other', id: 999 });
  const m = await c.nextMessage();
  assert.equal(m.content, 'typed');
  assert.equal(m.username, 'Carol', 'the username comes from the connection, not the frame');
  assert.equal(m.room, 'general');
  assert.notEqual(m.id, 999);
  await c.close();
});

test('a client close is echoed with 1000', { timeout: 15000 }, async () => {
  const c = await srv.connect('general', 'Dave');
  const info = await c.close(1000, 'bye');
  assert.equal(info.code, 1000);
});

test('unicode content round-trips unchanged', { timeout: 15000 }, async () => {
  const c = await srv.connect('general', 'Zoë');
  const content = 'héllo 🌍 "quotes" \\ back\\slash \n newline \u2028 ✓ </script>';
  c.send({ content });
  const m = await c.nextMessage();
  assert.equal(m.content, content);
  assert.equal(m.username, 'Zoë');
  await c.close();
});
