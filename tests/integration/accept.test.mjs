// How a connection's first bytes are served (docs/ARCHITECTURE.md "Connection life cycle"): a
// complete upgrade request in the first read goes straight to the WebSocket session, with any
// frame that came in the same packet; a request split over several packets, a plain HTTP
// request, and a refused upgrade go through the HTTP session, which starts from the bytes
// already read. Raw TCP clients, so the packet boundaries are the test's choice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, sleep, fileTimeout } from './server.mjs';
import { encodeFrame, frameParser, upgradeRequestText } from './client.mjs';

fileTimeout(60000);

let srv;
before(async () => { srv = await startServer(); }); // two shards by default: both take connections
after(async () => { await srv?.stop(); });

// Writes `parts` (strings or Buffers) with `gapMs` between them; collects the HTTP head and the
// WebSocket frames that follow it.
function rawExchange(parts, gapMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: srv.port });
    let head = null;
    let pending = Buffer.alloc(0);
    const texts = [];
    const parse = frameParser((f) => { if (f.opcode === 0x1) texts.push(JSON.parse(f.text)); });
    const result = { socket, texts, get head() { return head; } };
    socket.on('data', (chunk) => {
      if (head === null) {
        pending = Buffer.concat([pending, chunk]);
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = pending.subarray(0, end).toString();
        result.body = pending.subarray(end + 4);
        if (head.startsWith('HTTP/1.1 101')) parse(pending.subarray(end + 4));
        return;
      }
      if (head.startsWith('HTTP/1.1 101')) parse(chunk);
      else result.body = Buffer.concat([result.body, chunk]);
    });
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await sleep(gapMs);
        socket.write(parts[i]);
      }
      resolve(result);
    });
  });
}

function upgrade(room, user) {
  return upgradeRequestText(srv.port, `/ws/${room}?username=${user}`);
}

async function waitFor(pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await sleep(10);
  }
}

test('an upgrade and a first frame in one packet: 101, then the message comes back', async () => {
  const frame = encodeFrame(0x1, JSON.stringify({ content: 'in the same packet' }));
  const r = await rawExchange([Buffer.concat([Buffer.from(upgrade('accept1', 'Ann')), frame])], 0);
  await waitFor(() => r.texts.some((f) => f.type === 'message'), 'the echoed message');
  assert.match(r.head, /^HTTP\/1\.1 101 /);
  const types = r.texts.map((f) => f.type);
  assert.deepEqual(types.slice(0, 2), ['history', 'presence'], `frames: ${types}`);
  assert.equal(r.texts.find((f) => f.type === 'message').content, 'in the same packet');
  r.socket.destroy();
});

test('an upgrade split over three packets (mid-header) still upgrades, and the frame behind it arrives', async () => {
  const req = upgrade('accept2', 'Bob');
  const frame = encodeFrame(0x1, JSON.stringify({ content: 'after a split request' }));
  const r = await rawExchange([req.slice(0, 20), req.slice(20, 70), Buffer.concat([Buffer.from(req.slice(70)), frame])], 80);
  await waitFor(() => r.texts.some((f) => f.type === 'message'), 'the echoed message');
  assert.match(r.head, /^HTTP\/1\.1 101 /);
  assert.equal(r.texts.find((f) => f.type === 'message').content, 'after a split request');
  r.socket.destroy();
});

test('a plain HTTP request as the first bytes is answered, and the connection is kept alive', async () => {
  const r = await rawExchange(['GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'], 0);
  await waitFor(() => r.head !== null, 'the response');
  assert.match(r.head, /^HTTP\/1\.1 200 /);
  // The same connection then upgrades (the HTTP session's own path).
  r.socket.write(upgrade('accept3', 'Cat'));
  await waitFor(() => r.body && r.body.includes('HTTP/1.1 101'), 'the 101 on the kept-alive connection');
  r.socket.destroy();
});

test('a refused upgrade in the first packet gets its JSON error', async () => {
  const r = await rawExchange([upgrade('bad%zzroom', 'Dan')], 0);
  await waitFor(() => r.head !== null && r.body.length > 0, 'the refusal');
  assert.match(r.head, /^HTTP\/1\.1 400 /);
  assert.equal(JSON.parse(r.body.toString()).error, 'invalid_room');
  r.socket.destroy();
});
