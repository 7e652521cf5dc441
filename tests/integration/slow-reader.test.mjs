// Slow consumer: a member that stops reading is cut off (4008) once its outbound queue passes
// --max-outbound, while everyone else in the room gets every message. Run twice: with the
// shard's writes batched through io_uring (the default) and with one sendmsg per write, since a
// full socket, a short write and a dead peer take different paths in each.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, metricValue, sleep, fileTimeout } from './server.mjs';
import { rawConnect, encodeFrame } from './client.mjs';

fileTimeout(180000);

const MAX_OUTBOUND = 65536;
const SIZE = 3000; // characters per message
// The kernel absorbs a lot before the server's own queue grows: on loopback a reader that never
// reads takes ~4 MB (the server's send buffer autotunes up to tcp_wmem's 4 MiB, plus the reader's
// receive buffer). So the sender keeps sending batches until the server reports the cut, up to
// MAX_COUNT messages (12 MB). A batch (10 x 3,000 = 30 KB) stays well under --max-outbound, and
// the next one goes only when every healthy reader has the previous one: whatever else happens,
// a healthy reader never has more than one batch pending, so only the stuck one can pass the limit.
const BATCH = 10;
const MAX_COUNT = 4000;

for (const ioUring of ['on', 'off']) describe(`--io-uring ${ioUring}`, () => {
let srv;
before(async () => {
  srv = await startServer({ args: ['--max-outbound', String(MAX_OUTBOUND), '--io-uring', ioUring] });
});
after(async () => { await srv?.stop(); });

test('a reader that never reads is disconnected with 4008; the others get everything', { timeout: 50000 }, async (t) => {
  const n1 = await srv.connect('slow', 'Reader1');
  const n2 = await srv.connect('slow', 'Reader2');
  // Completes the handshake, then never reads again (until we resume it below).
  const stuck = await rawConnect(srv.port, '/ws/slow?username=Stuck', { pauseAfterHandshake: true });
  n1.send({ content: 'warm-up' });
  await Promise.all([n1.nextMessage(), n2.nextMessage()]);

  const sender = await srv.connect('slow', 'Sender');
  const body = 'x'.repeat(SIZE - 8);
  const got = [[], [], []];
  let sent = 0;
  let cut = 0;
  while (sent < MAX_COUNT) {
    for (let i = 0; i < BATCH; i++, sent++) sender.send({ content: `${String(sent).padStart(7, '0')} ${body}` });
    const batch = await Promise.all([n1, n2, sender].map((c) => c.messages(BATCH, 20000)));
    batch.forEach((b, i) => got[i].push(...b));
    cut = metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4008 });
    if (cut >= 1) break;
  }
  t.diagnostic(`cut after ${sent} messages of ${SIZE} characters`);
  // Two more batches after the cut: the room goes on for the others.
  for (let k = 0; k < 2; k++) {
    for (let i = 0; i < BATCH; i++, sent++) sender.send({ content: `${String(sent).padStart(7, '0')} ${body}` });
    const batch = await Promise.all([n1, n2, sender].map((c) => c.messages(BATCH, 20000)));
    batch.forEach((b, i) => got[i].push(...b));
  }
  const [g1] = got;
  for (const g of got) {
    assert.equal(g.length, sent);
    g.forEach((m, i) => {
      assert.equal(m.content.slice(0, 7), String(i).padStart(7, '0'), `message #${i} out of order`);
      assert.equal(m.content.length, SIZE, 'content length');
      assert.equal(m.id, g1[0].id + i, 'ids');
    });
  }
  assert.ok(cut >= 1, `parley_disconnects_total{code="4008"} is still ${cut} after ${sent} messages to a reader that never reads`);

  // The slow member is gone: resume reading and the stream ends, its last frame (if any close
  // frame got through) being a close with 4008.
  stuck.resume();
  const end = await Promise.race([stuck.ended, sleep(10000).then(() => null)]);
  assert.ok(end, `the slow client's TCP connection was not closed (read ${stuck.bytesRead} bytes, ${stuck.frames.length} frames)`);
  const closeAt = stuck.frames.findIndex((f) => f.opcode === 0x8);
  if (closeAt >= 0) {
    assert.equal(stuck.frames[closeAt].code, 4008, `close frame ${stuck.frames[closeAt].code} ${stuck.frames[closeAt].reason}`);
    assert.equal(closeAt, stuck.frames.length - 1, 'frames after the close frame');
  }
  // What it did read is a clean prefix of the room's stream: whole frames, in order, no gaps.
  const texts = stuck.frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.text))
    .filter((m) => m.type === 'message');
  assert.ok(texts.length < sent, `the slow client got ${texts.length} messages of ${sent + 1}: its backlog was not dropped`);
  texts.forEach((m, i) => assert.equal(m.id, texts[0].id + i, 'gap in the slow client\'s stream'));
  assert.ok(stuck.frames.every((f) => f.opcode === 0x1 || f.opcode === 0x8 || f.opcode === 0x9),
    `unexpected opcodes ${stuck.frames.map((f) => f.opcode)}`);

  assert.equal(n1.closeInfo, null);
  assert.equal(n2.closeInfo, null);
  const health = await srv.waitHealth((h) => h?.connections === 3);
  assert.equal(health.connections, 3, `healthz after the cut: ${JSON.stringify(health)}`);

  await Promise.all([n1.close(), n2.close(), sender.close()]);
});

// Not a slow consumer: a reader that reads as fast as it can, hit by a burst much bigger than
// --max-outbound (300 x 3,000 characters sent at once). The kernel takes megabytes on loopback,
// so a server that hands data to the socket as it comes never holds 64 KiB for such a reader.
test('a burst bigger than --max-outbound does not cut readers that keep up', { timeout: 30000 }, async () => {
  const before4008 = metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4008 });
  const readers = [await srv.connect('burst', 'R1'), await srv.connect('burst', 'R2'), await srv.connect('burst', 'R3')];
  const sender = await srv.connect('burst', 'Burster');
  const COUNT = 300;
  const body = 'y'.repeat(SIZE - 8);
  for (let i = 0; i < COUNT; i++) sender.send({ content: `${String(i).padStart(7, '0')} ${body}` });
  const results = await Promise.allSettled([...readers, sender].map((c) => c.messages(COUNT, 20000)));
  const report = results.map((r, i) => {
    const c = [...readers, sender][i];
    return r.status === 'fulfilled' ? 'ok' : `${c.url}: ${c.received.length} received, close ${JSON.stringify(c.closeInfo)}`;
  });
  assert.deepEqual(report, ['ok', 'ok', 'ok', 'ok'], 'every reader gets all 300 messages');
  const after4008 = metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4008 });
  assert.equal(after4008, before4008, 'parley_disconnects_total{code="4008"} went up');
  await Promise.all([...readers, sender].map((c) => c.close()));
});

test('a client that floods bad input and never reads is cut with 4008 too', { timeout: 40000 }, async () => {
  const before = metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4008 });
  const bystander = await srv.connect('flood-bad', 'Bystander');
  const flooder = await rawConnect(srv.port, '/ws/flood-bad?username=Flooder', { pauseAfterHandshake: true });
  // Each bad frame earns an error frame (~80 bytes); the kernel takes a few MB before the
  // server's own queue grows, so keep going until the server reports the cut.
  let cut = before;
  for (let round = 0; round < 40 && cut <= before; round++) {
    const batch = Buffer.concat(Array.from({ length: 5000 }, () => encodeFrame(0x1, '{')));
    flooder.socket.write(batch);
    await sleep(100);
    cut = metricValue(await srv.metrics(), 'parley_disconnects_total', { code: 4008 });
  }
  assert.ok(cut > before, 'the flooder was never cut: its error frames are not bounded');
  // The room goes on for everyone else.
  bystander.send({ content: 'still here' });
  assert.equal((await bystander.nextMessage(5000)).content, 'still here');
  flooder.socket.destroy();
  await bystander.close();
});

// The bound is what keeps the server's memory flat while readers stall: pushing ~24 MB through a
// room with readers that never read grows the server's RSS by at most the bound per stuck reader
// (the kernel holds a few MB per socket, outside the process), not by what they were sent.
// A server of its own without a store, so the SQLite page cache and inbox do not blur the figure.
test('readers that never read do not grow the server\'s memory', { timeout: 60000 }, async (t) => {
  // Under AddressSanitizer (make test's second run) freed memory waits in a quarantine of up to
  // 256 MB before reuse, which would measure ASan, not the bound: that run frees at once instead.
  const asanOptions = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=0'].filter(Boolean).join(':');
  const own = await startServer({
    args: ['--max-outbound', String(MAX_OUTBOUND), '--io-uring', ioUring, '--db', 'none'],
    env: { ASAN_OPTIONS: asanOptions },
  });
  try {
    const STUCK = 4;
    const TOTAL = 8000; // x 3,000 characters: 24 MB to each member
    const rssKiB = () => Number(fs.readFileSync(`/proc/${own.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
    const keeper = await own.connect('flat', 'Keeper');
    const stuck = [];
    for (let i = 0; i < STUCK; i++) {
      stuck.push(await rawConnect(own.port, `/ws/flat?username=Stuck${i}`, { pauseAfterHandshake: true }));
    }
    const pump = await own.connect('flat', 'Pump');
    const body = 'z'.repeat(SIZE - 8);
    let sent = 0;
    const sendBatch = async () => {
      for (let i = 0; i < BATCH; i++, sent++) pump.send({ content: `${String(sent).padStart(7, '0')} ${body}` });
      await Promise.all([keeper.messages(BATCH, 20000), pump.messages(BATCH, 20000)]);
    };
    // Warm-up (1.5 MB: less than the kernel takes for a stuck reader, so none is cut yet).
    while (sent < 500) await sendBatch();
    const startKiB = rssKiB();
    let peakKiB = startKiB;
    while (sent < TOTAL) {
      await sendBatch();
      if (sent % 200 === 0) peakKiB = Math.max(peakKiB, rssKiB());
    }
    peakKiB = Math.max(peakKiB, rssKiB());
    const cut = metricValue(await own.metrics(), 'parley_disconnects_total', { code: 4008 });
    t.diagnostic(`${(TOTAL * SIZE / 1e6).toFixed(0)} MB to a room with ${STUCK} readers that never read: `
      + `server RSS ${startKiB} KiB after the warm-up, peak ${peakKiB} KiB; ${cut} cut with 4008`);
    assert.equal(cut, STUCK, 'every stuck reader is cut once its queue passes --max-outbound');
    // Unbounded queues keep the ~20 MB of frames the stuck readers never took (one copy, shared
    // by their queues): +21 MB measured with --max-outbound 1 GiB.
    assert.ok(peakKiB - startKiB < 8 * 1024, `server RSS grew ${peakKiB - startKiB} KiB`);
    for (const s of stuck) s.socket.destroy();
    await Promise.all([keeper.close(), pump.close()]);
  } finally {
    await own.stop();
  }
});

test('the writes went the way --io-uring says', { timeout: 10000 }, async (t) => {
  const m = await srv.metrics();
  const writes = metricValue(m, 'parley_write_calls_total');
  const batches = metricValue(m, 'parley_write_batches_total');
  assert.ok(writes > 100, `parley_write_calls_total ${writes}`);
  if (ioUring === 'off') {
    assert.equal(batches, 0, 'io_uring submissions with --io-uring off');
  } else if (/no io_uring/.test(srv.output())) {
    t.diagnostic(`this kernel has no io_uring: ${srv.output().match(/no io_uring[^\n]*/)[0]}`);
  } else {
    assert.ok(batches > 0 && batches < writes, `${batches} io_uring submissions for ${writes} writes`);
  }
});
});
