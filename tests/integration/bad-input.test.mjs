// Bad input: every documented refusal, and the connection (or, after a close, a new connection)
// still works afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, metricValue, sleep, fileTimeout } from './server.mjs';
import { upgradeRequest, rawConnect, encodeFrame } from './client.mjs';

fileTimeout(90000);

let srv;
let observer; // a member of the room that must never see anyone else's error frames
let seq = 0;

before(async () => {
  srv = await startServer();
  observer = await srv.connect('bad', 'Observer');
});
after(async () => {
  observer?.ws.terminate();
  await srv?.stop();
});

// A normal message from `c` reaches `c` and the observer.
async function stillWorks(c) {
  const content = `still works ${++seq}`;
  c.send({ content });
  const [mine, seen] = await Promise.all([
    c.next((f) => f.type === 'message' && f.content === content, 5000, `"${content}" back`),
    observer.next((f) => f.type === 'message' && f.content === content, 5000, `"${content}" at the observer`),
  ]);
  assert.equal(mine.id, seen.id);
}

function assertErrorFrame(f, code) {
  assert.equal(f.type, 'error', `expected an error frame, got ${f.raw}`);
  assert.equal(f.code, code, `expected error ${code}, got ${f.raw}`);
  assert.equal(typeof f.message, 'string', `error frame without a message: ${f.raw}`);
}

const errorCases = [
  ['malformed JSON', '{"content": "oops"', 'invalid_json'],
  ['not JSON at all', 'hello', 'invalid_json'],
  ['JSON array', '[1,2]', 'invalid_message'],
  ['JSON string', '"hello"', 'invalid_message'],
  ['JSON null', 'null', 'invalid_message'],
  ['JSON number', '42', 'invalid_message'],
  ['content is a number', '{"content":5}', 'invalid_message'],
  ['content is null', '{"content":null}', 'invalid_message'],
  ['content is an object', '{"content":{"a":1}}', 'invalid_message'],
  ['empty object', '{}', 'invalid_message'],
  ['empty content', '{"content":""}', 'empty_content'],
  ['4,001 ASCII characters', JSON.stringify({ content: 'a'.repeat(4001) }), 'content_too_long'],
  ['4,001 emoji', JSON.stringify({ content: '😀'.repeat(4001) }), 'content_too_long'],
  ['unknown type', '{"type":"bogus","content":"x"}', 'unknown_type'],
  ['type error from a client', '{"type":"error","content":"x"}', 'unknown_type'],
  // Exactly --max-frame (65,536) bytes is not too big for a frame, only for the content.
  ['a 65,536-byte frame', JSON.stringify({ content: 'b'.repeat(65536 - 14) }), 'content_too_long'],
];

test('error frames, and the connection stays usable', { timeout: 30000 }, async (t) => {
  const c = await srv.connect('bad', 'Eve');
  assert.equal(Buffer.byteLength(errorCases.at(-1)[1]), 65536);
  for (const [name, frame, code] of errorCases) {
    await t.test(`${name} → ${code}`, async () => {
      c.send(frame);
      assertErrorFrame(await c.next(undefined, 5000, `the answer to: ${name}`), code);
      await stillWorks(c);
    });
  }
  await sleep(200);
  assert.equal(observer.queue.filter((f) => f.type !== 'message').length, 0,
    `the observer saw: ${JSON.stringify(observer.queue.filter((f) => f.type !== 'message'))}`);
  assert.equal(c.closeInfo, null);
  await c.close();
});

test('content limits count characters, not bytes', { timeout: 15000 }, async () => {
  const c = await srv.connect('bad', 'Limits');
  for (const content of ['a'.repeat(4000), '😀'.repeat(4000), 'é'.repeat(4000)]) {
    c.send({ content });
    const m = await c.next(undefined, 5000, `${content.length} code units back`);
    assert.equal(m.type, 'message', `got ${m.raw?.slice(0, 200)}`);
    assert.equal(m.content, content);
  }
  await c.close();
});

test('a message sent in fragments is assembled', { timeout: 15000 }, async () => {
  const c = await srv.connect('bad', 'Frag');
  const text = JSON.stringify({ content: 'fragmented message' });
  c.ws.send(text.slice(0, 5), { fin: false });
  c.ws.send(text.slice(5, 12), { fin: false });
  c.ws.send(text.slice(12), { fin: true });
  const m = await c.nextMessage();
  assert.equal(m.content, 'fragmented message');
  await c.close();
});

async function expectClose(name, code, act) {
  const c = await srv.connect('bad', `Closer${++seq}`);
  await act(c);
  const info = await c.waitClosed(5000).catch((e) => { throw new Error(`${name}: ${e.message}`); });
  assert.equal(info.code, code, `${name}: closed with ${info.code} (${info.reason})`);
  // A new connection works.
  const again = await srv.connect('bad', `Again${seq}`);
  await stillWorks(again);
  await again.close();
}

test('a text frame over 65,536 bytes → close 1009', { timeout: 15000 }, async () => {
  await expectClose('65,537-byte frame', 1009, (c) => c.send(JSON.stringify({ content: 'c'.repeat(65537 - 14) })));
});

test('fragments adding up to more than 65,536 bytes → close 1009', { timeout: 15000 }, async () => {
  await expectClose('fragmented 90,000 bytes', 1009, (c) => {
    c.ws.send('{"content":"' + 'd'.repeat(30000), { fin: false });
    c.ws.send('d'.repeat(30000), { fin: false });
    c.ws.send('d'.repeat(30000) + '"}', { fin: true });
  });
});

test('a binary frame → close 1003', { timeout: 15000 }, async () => {
  await expectClose('binary frame', 1003, (c) => c.send(Buffer.from('{"content":"bin"}'), { binary: true }));
});

test('invalid UTF-8 in a text frame → close 1007', { timeout: 15000 }, async () => {
  const bad = Buffer.concat([Buffer.from('{"content":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
  await expectClose('invalid UTF-8', 1007, (c) => c.send(bad, { binary: false }));
});

test('protocol errors → close 1002 (raw frames)', { timeout: 20000 }, async (t) => {
  const cases = [
    ['unmasked frame', (r) => r.sendFrame(0x1, '{"content":"x"}', { mask: false })],
    ['reserved bit set', (r) => {
      const f = encodeFrame(0x1, '{"content":"x"}');
      f[0] |= 0x40;
      r.socket.write(f);
    }],
    ['reserved opcode 0x3', (r) => r.sendFrame(0x3, 'x')],
    ['continuation without a start', (r) => r.sendFrame(0x0, 'x')],
    ['fragmented ping', (r) => r.sendFrame(0x9, 'x', { fin: false })],
    ['ping with a 126-byte payload', (r) => r.sendFrame(0x9, 'p'.repeat(126))],
    ['new text frame inside a fragmented message', (r) => {
      r.sendFrame(0x1, '{"content":', { fin: false });
      r.sendFrame(0x1, '"x"}');
    }],
    ['close with a 1-byte payload', (r) => r.sendFrame(0x8, Buffer.from([0x03]))],
    ['close with code 1005', (r) => r.sendFrame(0x8, Buffer.from([0x03, 0xed]))],
  ];
  for (const [name, act] of cases) {
    await t.test(name, async () => {
      const r = await rawConnect(srv.port, `/ws/bad?username=Raw${++seq}`);
      act(r);
      const close = await r.next((f) => f.opcode === 0x8, 5000, `a close frame after: ${name}`);
      assert.equal(close.code, 1002, `${name}: close ${close.code} (${close.reason})`);
      const end = await Promise.race([r.ended, sleep(5000).then(() => null)]);
      assert.ok(end, `${name}: TCP connection not closed after the close frame`);
    });
  }
  const r = await rawConnect(srv.port, `/ws/bad?username=Raw${++seq}`);
  r.sendFrame(0x8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from([0xff, 0xfe])]));
  const close = await r.next((f) => f.opcode === 0x8, 5000, 'a close frame after a bad close reason');
  assert.equal(close.code, 1007, `close reason that is not UTF-8: close ${close.code}`);
  const again = await srv.connect('bad', 'AfterRaw');
  await stillWorks(again);
  await again.close();
});

test('ping from the client → pong with the same payload', { timeout: 15000 }, async () => {
  const c = await srv.connect('bad', 'Pinger');
  const pong = new Promise((resolve) => c.ws.once('pong', (d) => resolve(d.toString())));
  c.ws.ping('are you there?');
  assert.equal(await Promise.race([pong, sleep(5000).then(() => 'no pong within 5 s')]), 'are you there?');
  await stillWorks(c);
  await c.close();
});

const badRooms = [
  '/ws/a%20b', `/ws/${'r'.repeat(65)}`, '/ws/%00x', '/ws/a%2Fb', '/ws/caf%C3%A9', '/ws/a!b', '/ws/',
  '/ws/.', '/ws/..', '/ws/%2E%2E',
];
const badUsers = [
  'username=', `username=${'u'.repeat(33)}`, 'username=%01bob', 'username=%20Bob', 'username=Bob%20',
  'username=Bob%7F', 'username=Bob%C2%85', 'username=Bob%FF', 'username=%09Bob',
];

test('bad room names → 400 invalid_room', { timeout: 15000 }, async () => {
  for (const path of badRooms) {
    const r = await upgradeRequest(srv.port, `${path}?username=Alice`);
    assert.equal(r.status, 400, `${path}: HTTP ${r.status} ${r.body ?? ''}`);
    assert.equal(r.json?.error, 'invalid_room', `${path}: ${r.body}`);
    assert.equal(typeof r.json?.message, 'string', `${path}: ${r.body}`);
  }
});

// PROTOCOL.md: a room is checked "after percent-decoding" and anything else is invalid_room; a
// username that is present but invalid is invalid_username. A broken percent-escape cannot be
// decoded, so it is one of those (not an undocumented error code).
test('a broken percent-escape → 400 invalid_room / invalid_username', { timeout: 15000 }, async () => {
  const cases = [
    ['/ws/a%2?username=Alice', 'invalid_room'],
    ['/ws/a%zzb?username=Alice', 'invalid_room'],
    ['/ws/bad?username=Bob%2', 'invalid_username'],
    ['/ws/bad?username=Bob%zz', 'invalid_username'],
  ];
  const got = [];
  for (const [path] of cases) {
    const r = await upgradeRequest(srv.port, path);
    got.push(`${path} → ${r.status} ${r.json?.error}`);
  }
  assert.deepEqual(got, cases.map(([path, error]) => `${path} → 400 ${error}`));
});

test('bad usernames → 400 invalid_username', { timeout: 15000 }, async () => {
  for (const q of badUsers) {
    const r = await upgradeRequest(srv.port, `/ws/bad?${q}`);
    assert.equal(r.status, 400, `${q}: HTTP ${r.status} ${r.body ?? ''}`);
    assert.equal(r.json?.error, 'invalid_username', `${q}: ${r.body}`);
    assert.equal(typeof r.json?.message, 'string', `${q}: ${r.body}`);
  }
});

test('good room names and usernames at the limits are accepted', { timeout: 15000 }, async () => {
  const cases = [
    [`/ws/${'r'.repeat(64)}?username=Max`, 'r'.repeat(64), 'Max'],
    ['/ws/Az09._~-?username=Sym', 'Az09._~-', 'Sym'],
    ['/ws/%41bc?username=Pct', 'Abc', 'Pct'],
    [`/ws/bad?username=${encodeURIComponent('😀'.repeat(32))}`, 'bad', '😀'.repeat(32)],
    [`/ws/bad?username=${'u'.repeat(32)}`, 'bad', 'u'.repeat(32)],
    ['/ws/bad?username=Alice%20Smith', 'bad', 'Alice Smith'],
    ['/ws/bad?username=%C3%A9l%C3%A8ve', 'bad', 'élève'],
  ];
  for (const [path, room, username] of cases) {
    const c = await srv.connect(undefined, undefined, { path });
    c.send({ content: 'limit ok' });
    const m = await c.next((f) => f.type === 'message' && f.content === 'limit ok' && f.username === username, 5000, `own message on ${path}`);
    assert.equal(m.room, room);
    await c.close();
  }
});

test('/metrics counts the refusals and the closes', { timeout: 15000 }, async () => {
  const s = await srv.metrics();
  const rooms = metricValue(s, 'parley_rejected_total', { reason: 'invalid_room' });
  const users = metricValue(s, 'parley_rejected_total', { reason: 'invalid_username' });
  assert.ok(rooms >= badRooms.length, `parley_rejected_total{reason="invalid_room"} = ${rooms}`);
  assert.ok(users >= badUsers.length, `parley_rejected_total{reason="invalid_username"} = ${users}`);
  for (const code of [1002, 1003, 1007, 1009]) {
    const v = metricValue(s, 'parley_disconnects_total', { code });
    assert.ok(v >= 1, `parley_disconnects_total{code="${code}"} = ${v}`);
  }
  assert.equal(observer.closeInfo, null, 'the observer was disconnected');
});
