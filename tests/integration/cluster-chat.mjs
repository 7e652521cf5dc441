// A chat client for the many-instance tests: it behaves as a careful real client does (the web
// client does the same): it keeps the last id it saw, reconnects to the next instance with
// ?since= when its connection drops, and resends every message not yet echoed back with the SAME
// client_id (after a cluster_unavailable or store_unavailable error, or a reconnect). Along the
// way it records what the invariants need: every message it saw, in order, and any id seen twice.
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { request, sleep } from './server.mjs';
import { fetchAllHistory, poll } from './postgres.mjs';

export class ChatClient {
  // ports(): the instances' ports right now (tried in turn from `start`).
  constructor({ ports, room, username, start = 0 }) {
    Object.assign(this, { ports, room, username, at: start });
    this.lastId = undefined;  // the last id seen (the ?since= of a reconnect)
    this.seen = [];           // [{id, username, content, client_id, raw}] in arrival order
    this.twice = [];          // ids that arrived again after they were seen (a broken resume)
    this.gaps = [];           // [lastId, id] where an id was skipped
    this.unacked = new Map(); // client_id -> content, sent and not yet echoed
    this.acked = new Set();
    this.errors = [];         // error frames
    this.presence = null;     // the last presence frame
    this.events = [];         // join/leave/presence frames
    this.reconnects = 0;
    this.closedForGood = false;
    this.ws = null;
    this.joined = false;
  }

  // Opens a connection (on ports()[at]) and waits for its join to complete (history, presence).
  async open(timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ports = this.ports();
      const port = ports[this.at % ports.length];
      try {
        await this.#connect(port, deadline - Date.now());
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`${this.username}: no instance took the join: ${err.message}`);
        this.at++;
        await sleep(100);
      }
    }
  }

  #connect(port, timeoutMs) {
    let path = `/ws/${encodeURIComponent(this.room)}?username=${encodeURIComponent(this.username)}`;
    if (this.lastId !== undefined) path += `&since=${this.lastId}`;
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false, handshakeTimeout: 3000 });
    this.ws = ws;
    this.joined = false;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('join timed out')); }, Math.max(500, timeoutMs));
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString());
        if (f.type === 'history') {
          // A first join's history starts the client's order (from its first message's id).
          if (this.lastId === undefined) this.lastId = f.messages.length ? f.messages[0].id - 1 : 0;
          for (const m of f.messages) this.#message(m, JSON.stringify(m));
        }
        else if (f.type === 'message') this.#message(f, data.toString());
        else if (f.type === 'error') this.#error(f);
        else if (f.type === 'presence' || f.type === 'join' || f.type === 'leave') {
          this.events.push(f);
          if (f.type === 'presence') this.presence = f;
          if (f.type === 'presence' && !this.joined) {
            // The join is complete (history, then presence): resend what is not acknowledged.
            this.joined = true;
            clearTimeout(timer);
            for (const [cid, content] of this.unacked) this.#send(content, cid);
            resolve();
          }
        }
      });
      ws.on('error', () => {});
      ws.on('close', () => {
        clearTimeout(timer);
        if (!this.joined) return reject(new Error('closed before the join completed'));
        if (this.ws === ws && !this.closedForGood) this.#reconnect();
      });
    });
  }

  async #reconnect() {
    this.reconnects++;
    this.at++;
    await sleep(50 + Math.random() * 100);
    if (this.closedForGood) return;
    this.open(30000).catch((err) => this.errors.push({ code: 'reconnect_failed', message: err.message }));
  }

  #message(m, raw) {
    // One of this client's own sends: acknowledged, whether it came in the room's order or as the
    // original the server answers a retry with (to the sender alone, possibly ahead of the
    // room's order when its first delivery was lost with a dying owner: it then also comes in
    // order, from the store).
    const own = m.username === this.username && m.client_id && (this.unacked.has(m.client_id) || this.acked.has(m.client_id));
    if (own && this.unacked.has(m.client_id)) {
      this.unacked.delete(m.client_id);
      this.acked.add(m.client_id);
    }
    if (this.lastId !== undefined && m.id <= this.lastId) {
      if (!own) this.twice.push(m.id);
      return;
    }
    if (own && this.lastId !== undefined && m.id !== this.lastId + 1) return;
    if (this.lastId !== undefined && m.id !== this.lastId + 1) this.gaps.push([this.lastId, m.id]);
    this.lastId = m.id;
    this.seen.push({ id: m.id, username: m.username, content: m.content, client_id: m.client_id, raw });
  }

  #error(f) {
    this.errors.push(f);
    // Refused and not stored: the same client_id again, a little later.
    if ((f.code === 'cluster_unavailable' || f.code === 'store_unavailable') && f.client_id && this.unacked.has(f.client_id)) {
      setTimeout(() => {
        if (this.unacked.has(f.client_id)) this.#send(this.unacked.get(f.client_id), f.client_id);
      }, 200);
    }
  }

  #send(content, clientId) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.joined) this.ws.send(JSON.stringify({ content, client_id: clientId }));
  }

  send(content, clientId) {
    this.unacked.set(clientId, content);
    this.#send(content, clientId);
  }

  // Resends whatever is still unacknowledged (a send can be lost with a dying owner and no error:
  // then only a retry tells).
  retryUnacked() {
    for (const [cid, content] of this.unacked) this.#send(content, cid);
  }

  close() {
    this.closedForGood = true;
    this.ws?.terminate();
  }
}

// Sends `count` messages from each client at about `perSecond` each, resending until every one
// is acknowledged or `timeoutMs` passes; resolves when all are.
export async function sendAll(clients, { count, perSecond = 20, timeoutMs = 60000, tag = 'm' }) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < count; i++) {
    for (const c of clients) c.send(`${tag} ${c.username} ${i}`, `${tag}-${c.username}-${i}`);
    await sleep(1000 / perSecond);
  }
  let lastRetry = Date.now();
  while (clients.some((c) => c.unacked.size > 0)) {
    if (Date.now() > deadline) {
      throw new Error(`not acknowledged in time: ${clients.map((c) => `${c.username}: ${[...c.unacked.keys()].slice(0, 5)}`).join('; ')}`);
    }
    if (Date.now() - lastRetry > 2000) {
      for (const c of clients) c.retryUnacked();
      lastRetry = Date.now();
    }
    await sleep(50);
  }
}

// ---- checks shared by the cluster tests ----------------------------------------------------

export async function health(port) {
  const r = await request(port, '/healthz').catch(() => null);
  return r?.json ?? null;
}

// Every live instance lists `k` instances and the buckets held add up to all of them.
export async function waitSettled(inst, k, timeoutMs = 20000, ports = inst.ports) {
  const state = await poll(async () => Promise.all(ports.map(health)), (hs) =>
    hs.every((h) => h?.cluster?.instances?.length === k && h.status === 'ok') &&
    hs.reduce((n, h) => n + h.cluster.buckets_held, 0) === hs[0].cluster.buckets, timeoutMs, 100);
  assert.ok(state.every((h) => h?.cluster?.instances?.length === k),
    `cluster not settled: ${JSON.stringify(state.map((h) => h?.cluster))}`);
  return state;
}

export async function ownerOf(port, room) {
  const r = await request(port, `/api/cluster/rooms/${encodeURIComponent(room)}`);
  assert.equal(r.status, 200, r.body);
  return r.json.owner;
}

// One room owned by each instance (rooms hash into buckets; the buckets spread over instances).
export async function roomsOwnedByEach(inst, prefix) {
  const byOwner = new Map();
  for (let i = 0; byOwner.size < inst.ids.length && i < 500; i++) {
    const room = `${prefix}-${i}`;
    const owner = await ownerOf(inst.ports[0], room);
    if (!byOwner.has(owner)) byOwner.set(owner, room);
  }
  assert.equal(byOwner.size, inst.ids.length, 'every instance owns some room');
  return byOwner;
}

// The invariants of a room after a run: the stored history has ids 1..n without a gap, no
// (user, client_id) twice, every message any client saw is stored with the same bytes, and every
// client saw its messages in order, none twice.
export async function checkRoom(port, room, clients) {
  const history = await fetchAllHistory(port, room);
  history.forEach((m, i) => assert.equal(m.id, i + 1, `${room}: stored ids have a gap at ${i + 1}`));
  const keys = history.filter((m) => m.client_id).map((m) => `${m.username}/${m.client_id}`);
  assert.equal(new Set(keys).size, keys.length, `${room}: a client_id stored twice`);
  const byId = new Map(history.map((m) => [m.id, m]));
  for (const c of clients) {
    assert.deepEqual(c.twice, [], `${c.username} saw ids twice`);
    assert.deepEqual(c.gaps, [], `${c.username} skipped ids`);
    for (const s of c.seen) {
      const stored = byId.get(s.id);
      assert.ok(stored, `${c.username} saw id ${s.id}, which is not stored`);
      assert.equal(stored.content, s.content, `${room} id ${s.id}: seen and stored differ`);
      assert.equal(stored.username, s.username);
    }
    for (const cid of c.acked) assert.ok(keys.includes(`${c.username}/${cid}`), `${cid} acknowledged, not stored`);
  }
  return history;
}

