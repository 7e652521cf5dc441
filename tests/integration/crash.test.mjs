// Crash: a message is stored before anyone receives it (docs/PROTOCOL.md "message"). Under a
// steady publish load the server is killed with SIGKILL; after a restart on the same store, every
// message any client received is in the history with the same id, content and username (the whole
// frame, in fact), the stored ids have no gap, and the next message gets a larger id than anything
// seen (no reuse). Run against SQLite and PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sleep, withTimeout, fileTimeout } from './server.mjs';
import { sqliteFactory, postgresFactory, fetchAllHistory, range } from './postgres.mjs';

fileTimeout(90000);

const ROOMS = ['crash', 'crash-b'];
const PUBLISHERS = 4; // two per room
const OBSERVERS = 3; // per room

function crashSuite(factory) {
  describe(`SIGKILL under load on ${factory.name}`, () => {
    const servers = [];
    before(async () => { await factory.init(); });
    after(async () => {
      for (const s of servers) await s.stop();
      await factory.close();
    });

    test('every message anyone received survives the crash; ids continue without reuse', { timeout: 40000 }, async (t) => {
      const db = await factory.newDb();
      const first = await startServer({ args: db.args });
      servers.push(first);

      const observers = [];
      for (const room of ROOMS) {
        for (let o = 0; o < OBSERVERS; o++) observers.push({ room, conn: await first.connect(room, `obs${o}`) });
      }
      const publishers = [];
      for (let p = 0; p < PUBLISHERS; p++) {
        const room = ROOMS[p % ROOMS.length];
        publishers.push({ room, conn: await first.connect(room, `pub${p}`) });
      }
      let sending = true;
      const loops = publishers.map(async ({ conn }, p) => {
        for (let i = 0; sending && conn.ws.readyState === 1; i++) {
          conn.send({ content: `pub${p} #${i} ${'x'.repeat(i % 50)}` });
          await sleep(3);
        }
      });

      await sleep(2000);
      const t0 = Date.now();
      first.proc.kill('SIGKILL');
      const how = await withTimeout(first.exited, 5000, 'the server to die of SIGKILL');
      sending = false;
      assert.equal(how, 'SIGKILL');
      await Promise.all(loops);
      await withTimeout(Promise.all([...observers, ...publishers].map(({ conn }) => conn.closed)), 5000, 'the clients to see the connection drop');
      assert.ok(Date.now() - t0 < 5000);

      // Everything anyone received (publishers' echoes included), by room and id; the same id
      // must never have been seen with two different frames.
      const seen = new Map(ROOMS.map((r) => [r, new Map()]));
      for (const { room, conn } of [...observers, ...publishers]) {
        for (const f of conn.received) {
          if (f.type !== 'message') continue;
          assert.equal(f.room, room);
          const prev = seen.get(room).get(f.id);
          if (prev !== undefined) assert.equal(f.raw, prev, `room ${room} id ${f.id} seen as two different messages`);
          seen.get(room).set(f.id, f.raw);
        }
      }
      for (const room of ROOMS) assert.ok(seen.get(room).size > 100, `only ${seen.get(room).size} messages in ${room} before the kill`);

      const second = await startServer({ args: db.args });
      servers.push(second);
      for (const room of ROOMS) {
        const stored = await fetchAllHistory(second.port, room);
        const storedIds = stored.map((m) => m.id);
        assert.deepEqual(storedIds, range(1, stored.length), `${room}: stored ids are 1..n without gaps`);
        const byId = new Map(stored.map((m) => [m.id, JSON.stringify(m)]));
        const missing = [];
        const different = [];
        for (const [id, raw] of seen.get(room)) {
          if (!byId.has(id)) missing.push(id);
          else if (JSON.parse(byId.get(id)).content !== JSON.parse(raw).content ||
            JSON.parse(byId.get(id)).username !== JSON.parse(raw).username) different.push(`${id}: saw ${raw}, stored ${byId.get(id)}`);
          else if (byId.get(id) !== raw) different.push(`${id} (other fields): saw ${raw}, stored ${byId.get(id)}`);
        }
        assert.deepEqual(missing, [], `${room}: received before the crash but not in the history after it`);
        assert.deepEqual(different, [], `${room}: received differently from what is stored`);
        const maxSeen = Math.max(...seen.get(room).keys());
        t.diagnostic(`${room}: ${seen.get(room).size} ids received before the kill (max ${maxSeen}), ${stored.length} stored`);

        const c = await second.connect(room, 'after');
        c.send({ content: 'after the crash' });
        const m = await c.next((f) => f.type === 'message', 5000, 'the first message after the restart');
        assert.ok(m.id > maxSeen, `${room}: new id ${m.id} reuses an id seen before the crash (max seen ${maxSeen})`);
        assert.equal(m.id, stored.length + 1, `${room}: new id continues the stored sequence`);
        await c.close();
      }
    });
  });
}

crashSuite(sqliteFactory());
crashSuite(postgresFactory());
