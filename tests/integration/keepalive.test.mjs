// Keep-alive and handshake timeouts, with short settings:
// --ping-interval 1 --idle-timeout 2 --handshake-timeout 1 (seconds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, metricValue, sleep, fileTimeout } from './server.mjs';
import { rawConnect } from './client.mjs';

fileTimeout(60000);

let srv;
before(async () => {
  srv = await startServer({ args: ['--ping-interval', '1', '--idle-timeout', '2', '--handshake-timeout', '1'] });
});
after(async () => { await srv?.stop(); });

test('a client that answers pings stays connected', { timeout: 15000 }, async () => {
  const c = await srv.connect('alive', 'Pongy'); // ws answers pings by itself
  await sleep(4000);
  assert.equal(c.closeInfo, null, `closed: ${JSON.stringify(c.closeInfo)}`);
  assert.ok(c.pings >= 1, `the server sent no ping in 4 s of silence (pings: ${c.pings})`);
  c.send({ content: 'still here' });
  assert.equal((await c.nextMessage()).content, 'still here');
  await c.close();
});

test('a client that never answers pings is closed (4002) within ~5 s', { timeout: 15000 }, async (t) => {
  const r = await rawConnect(srv.port, '/ws/alive?username=Deaf');
  const t0 = Date.now();
  const end = await Promise.race([r.ended, sleep(6000).then(() => null)]);
  assert.ok(end, `still open after 6 s (frames: ${r.frames.map((f) => f.opcode)})`);
  const took = end.at - t0;
  t.diagnostic(`closed after ${took} ms; frames ${r.frames.map((f) => (f.opcode === 8 ? `close ${f.code}` : f.opcode)).join(', ')}`);
  assert.ok(took >= 1500, `closed too early: ${took} ms`);
  assert.ok(r.frames.some((f) => f.opcode === 0x9), 'no ping before the close');
  const close = r.frames.find((f) => f.opcode === 0x8);
  if (close) assert.equal(close.code, 4002, `close ${close.code} (${close.reason})`);
  assert.ok(metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4002 }) >= 1);
});

test('any frame counts as life: a talker that never pongs stays connected', { timeout: 15000 }, async () => {
  const r = await rawConnect(srv.port, '/ws/alive?username=Talker');
  for (let i = 0; i < 9; i++) {
    r.sendFrame(0x1, JSON.stringify({ content: `tick ${i}` }));
    await sleep(500);
  }
  const messages = r.frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.text))
    .filter((m) => m.type === 'message').map((m) => m.content);
  assert.deepEqual(messages, Array.from({ length: 9 }, (_, i) => `tick ${i}`));
  assert.ok(!r.frames.some((f) => f.opcode === 0x8), 'closed although it kept talking');
  assert.ok(!r.socket.destroyed && r.socket.readyState === 'open', 'TCP connection closed');
  r.socket.destroy();
});

function silentTcp(payload) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: srv.port });
    let t0;
    s.on('connect', () => {
      t0 = Date.now();
      if (payload) s.write(payload);
    });
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => resolve(Date.now() - t0));
    setTimeout(() => { s.destroy(); reject(new Error('not closed within 5 s')); }, 5000);
  });
}

test('a TCP connection that sends nothing is closed after --handshake-timeout', { timeout: 15000 }, async (t) => {
  const took = await silentTcp();
  t.diagnostic(`closed after ${took} ms`);
  // The kernel holds a silent connection ~1 s first (TCP_DEFER_ACCEPT, docs/PROTOCOL.md), then
  // the server's 1 s timeout runs: ~2 s.
  assert.ok(took >= 1500 && took <= 4000, `closed after ${took} ms`);
});

test('a half-sent handshake is closed after --handshake-timeout', { timeout: 15000 }, async (t) => {
  const took = await silentTcp('GET /ws/alive?username=Slowpoke HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
  t.diagnostic(`closed after ${took} ms`);
  assert.ok(took >= 500 && took <= 3000, `closed after ${took} ms`);
});
