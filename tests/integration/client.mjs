// Client helpers for the integration tests: a `ws` client with a queue of parsed frames, a raw
// TCP WebSocket client (for peers that misbehave on purpose) and an upgrade request that reports
// the HTTP refusal. Every wait has a timeout, so a test never hangs on a missing frame.

import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import WebSocket from 'ws';

const DEFAULT_TIMEOUT = 5000;
const HISTORY_TYPES = new Set(['history', 'resume_truncated']);
const EVENT_TYPES = new Set(['presence', 'join', 'leave', 'typing', 'presence_summary']);

function wsPath(room, username) {
  const q = username === undefined ? '' : `?username=${encodeURIComponent(username)}`;
  return `/ws/${encodeURIComponent(room)}${q}`;
}

// A queue of received items with predicate-based waiting. Items that a waiter does not take stay
// in the queue for later waiters.
class Inbox {
  constructor(describeEnd) {
    this.queue = [];
    this.waiters = [];
    this.ended = null; // string describing why no more items will come
    this.describeEnd = describeEnd;
  }

  push(item) {
    this.queue.push(item);
    this.#settle();
  }

  end(why) {
    this.ended = why;
    this.#settle();
  }

  // Resolves the first queued item matching `pred` (removing it from the queue).
  next(pred = () => true, timeoutMs = DEFAULT_TIMEOUT, what = 'a frame') {
    return this.take(1, pred, timeoutMs, what).then((items) => items[0]);
  }

  // Resolves an array of the first `n` queued items matching `pred` (removing them).
  take(n, pred = () => true, timeoutMs = DEFAULT_TIMEOUT, what = `${n} frame(s)`) {
    return new Promise((resolve, reject) => {
      const w = { n, pred, resolve, reject, what };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        const got = this.queue.filter(pred).length;
        reject(new Error(`timeout after ${timeoutMs} ms waiting for ${what} (have ${got} matching, ` +
          `${this.queue.length} queued; last queued: ${JSON.stringify(this.queue.at(-1))?.slice(0, 300)})`));
      }, timeoutMs);
      this.waiters.push(w);
      this.#settle();
    });
  }

  #settle() {
    for (const w of [...this.waiters]) {
      const idx = [];
      for (let i = 0; i < this.queue.length && idx.length < w.n; i++) if (w.pred(this.queue[i])) idx.push(i);
      if (idx.length === w.n) {
        const items = idx.map((i) => this.queue[i]);
        const drop = new Set(idx);
        this.queue = this.queue.filter((_, i) => !drop.has(i));
        this.#finish(w);
        w.resolve(items);
      } else if (this.ended !== null) {
        this.#finish(w);
        w.reject(new Error(`${this.ended} while waiting for ${w.what} (got ${idx.length} of ${w.n}; ` +
          `queued: ${JSON.stringify(this.queue).slice(0, 300)})`));
      }
    }
  }

  #finish(w) {
    clearTimeout(w.timer);
    this.waiters = this.waiters.filter((x) => x !== w);
  }
}

// Connects a `ws` client to /ws/{room}?username=NAME (no username query when `username` is
// undefined; `path` overrides the whole path). Resolves once open; rejects (error.status and
// error.body set) when the server refuses the upgrade.
//
// The history the server sends on join (and for ?since=) is kept apart, in `client.history`,
// so tests about live traffic see only live frames; `keepHistory: true` puts history frames in
// the inbox too, for the tests about history itself.
// Presence events (presence, join, leave, typing, presence_summary) are likewise kept in
// `client.events` unless `keepEvents: true`.
export function connect(port, room, username, { path, timeoutMs = DEFAULT_TIMEOUT, wsOptions = {}, keepHistory = false, keepEvents = false } = {}) {
  const url = `ws://127.0.0.1:${port}${path ?? wsPath(room, username)}`;
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, ...wsOptions });
  const inbox = new Inbox();
  const client = {
    ws,
    url,
    received: [], // every parsed frame, in arrival order (never consumed)
    history: [], // history/resume_truncated frames, when not kept in the inbox
    events: [], // presence/join/leave/typing/presence_summary frames, when not kept in the inbox
    errors: [], // socket errors seen (e.g. ECONNRESET after a server close)
    pings: 0,
    closeInfo: null, // {code, reason} once closed
    get queue() { return inbox.queue; },
    next: (pred, timeoutMs, what) => inbox.next(pred, timeoutMs, what),
    take: (n, pred, timeoutMs, what) => inbox.take(n, pred, timeoutMs, what),
    nextMessage: (timeoutMs) => inbox.next((f) => f.type === 'message', timeoutMs, 'a message frame'),
    nextError: (timeoutMs) => inbox.next((f) => f.type === 'error', timeoutMs, 'an error frame'),
    messages: (n, timeoutMs) => inbox.take(n, (f) => f.type === 'message', timeoutMs, `${n} message frame(s)`),
    send(data, opts) {
      ws.send(typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data), opts);
    },
    close(code, reason) {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason);
      return client.closed;
    },
    terminate() {
      ws.terminate();
      return client.closed;
    },
    // Resolves {code, reason} when closed, rejects after timeoutMs.
    waitClosed(timeoutMs = DEFAULT_TIMEOUT) {
      let timer;
      return Promise.race([
        client.closed,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs} ms waiting for ${url} to close`)), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
    },
  };
  client.closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      client.closeInfo = { code, reason: reason.toString() };
      inbox.end(`connection closed (${code}: ${reason})`);
      resolve(client.closeInfo);
    });
  });
  ws.on('message', (data, isBinary) => {
    const text = data.toString();
    let frame;
    try { frame = JSON.parse(text); } catch { frame = { unparsable: text, isBinary }; }
    Object.defineProperty(frame, 'raw', { value: text, enumerable: false });
    client.received.push(frame);
    if (!keepHistory && HISTORY_TYPES.has(frame.type)) client.history.push(frame);
    else if (!keepEvents && EVENT_TYPES.has(frame.type)) client.events.push(frame);
    else inbox.push(frame);
  });
  ws.on('ping', () => { client.pings++; });
  ws.on('error', (err) => client.errors.push(err));

  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (req, res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const err = new Error(`upgrade refused: HTTP ${res.statusCode}`);
        err.status = res.statusCode;
        err.body = Buffer.concat(chunks).toString();
        try { err.json = JSON.parse(err.body); } catch { /* not JSON */ }
        req.destroy();
        reject(err);
      });
    });
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed (${code}) before open: ${url}`)));
  });
}

// Opens `count` clients with at most `concurrency` handshakes in flight.
export async function connectMany(port, room, count, { concurrency = 100, username = (i) => `u${i}` } = {}) {
  const clients = new Array(count);
  let nextIndex = 0;
  async function worker() {
    while (nextIndex < count) {
      const i = nextIndex++;
      clients[i] = await connect(port, room, username(i), { timeoutMs: 15000 });
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return clients;
}

// An upgrade request whose refusal we want to see. Resolves {status, headers, body, json}; a 101
// answer resolves {status: 101} and the socket is dropped.
export function upgradeRequest(port, path, { timeoutMs = DEFAULT_TIMEOUT, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      agent: false,
      timeout: timeoutMs,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, headers: res.headers });
    });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        let json;
        try { json = JSON.parse(body); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: upgrade ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

// Builds one client frame (masked unless mask is false).
export function encodeFrame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  const head = [((fin ? 0x80 : 0) | opcode)];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, masked]);
}

// Incremental parser of (unmasked) server frames. Calls onFrame({opcode, fin, payload, code?,
// reason?, text?}) for each complete frame.
export function frameParser(onFrame) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0;
      const opcode = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (masked) off += 4;
      if (buf.length < off + len) return;
      let payload = buf.subarray(off, off + len);
      if (masked) {
        const key = buf.subarray(off - 4, off);
        payload = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
      }
      buf = buf.subarray(off + len);
      const frame = { opcode, fin, masked, payload };
      if (opcode === 0x8) {
        frame.code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        frame.reason = payload.subarray(2).toString();
      } else if (opcode === 0x1) {
        frame.text = payload.toString();
      }
      onFrame(frame);
    }
  };
}

// The bytes of a WebSocket upgrade request for `path`, for clients that write them by hand.
export function upgradeRequestText(port, path, key = crypto.randomBytes(16).toString('base64')) {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

// A raw TCP WebSocket client: does the handshake by hand, then never answers pings or closes on
// its own. `pauseAfterHandshake` stops reading from the socket right after the 101 response (a
// slow or stuck reader); `resume()` starts reading again.
// Resolves {socket, status, headers, frames, next(pred, timeoutMs), ended, sendFrame, pause, resume}.
export function rawConnect(port, path, { pauseAfterHandshake = false, timeoutMs = DEFAULT_TIMEOUT } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const key = crypto.randomBytes(16).toString('base64');
    const inbox = new Inbox();
    const frames = [];
    const parse = frameParser((f) => { frames.push(f); inbox.push(f); });
    let head = Buffer.alloc(0);
    let handshakeDone = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timeout after ${timeoutMs} ms: raw handshake ${path}`));
    }, timeoutMs);

    const result = {
      socket,
      frames,
      bytesRead: 0,
      next: (pred, ms, what) => inbox.next(pred, ms, what),
      sendFrame: (opcode, payload, opts) => socket.write(encodeFrame(opcode, payload, opts)),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    };
    // Resolves {at, error} when the TCP connection is closed (after the peer's FIN has been read,
    // or on a reset).
    result.ended = new Promise((res) => {
      let error = null;
      socket.on('error', (e) => { error = e; });
      socket.on('close', () => {
        clearTimeout(timer);
        inbox.end(`TCP connection closed${error ? ` (${error.code})` : ''}`);
        res({ at: Date.now(), error });
        if (!handshakeDone) reject(new Error(`connection closed during raw handshake ${path}${error ? `: ${error.message}` : ''}`));
      });
    });

    socket.on('connect', () => socket.write(upgradeRequestText(port, path, key)));
    socket.on('data', (chunk) => {
      result.bytesRead += chunk.length;
      if (handshakeDone) { parse(chunk); return; }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      handshakeDone = true;
      clearTimeout(timer);
      const lines = head.subarray(0, end).toString().split('\r\n');
      result.status = Number(lines[0].split(' ')[1]);
      result.headers = Object.fromEntries(lines.slice(1).map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
      }));
      const expectAccept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (result.status !== 101 || result.headers['sec-websocket-accept'] !== expectAccept) {
        socket.destroy();
        reject(new Error(`raw handshake ${path} failed: ${lines[0]}`));
        return;
      }
      if (pauseAfterHandshake) socket.pause();
      const rest = head.subarray(end + 4);
      if (rest.length) parse(rest);
      resolve(result);
    });
  });
}
