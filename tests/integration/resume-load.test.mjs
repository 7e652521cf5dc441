// Resume under load: while 3 publishers keep one room busy, 10 resumers keep dropping their
// connection (terminate, no close handshake) and coming back with ?since=<the last id they saw>.
// At the end every resumer has seen exactly 1..N: no gap, no duplicate, in order (the seam
// between replay and live traffic is exact, docs/PROTOCOL.md "Resuming"). Run against SQLite and
// PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sleep, fileTimeout } from './server.mjs';
import { sqliteFactory, postgresFactory, wsPath, fetchAllHistory, range } from './postgres.mjs';

fileTimeout(150000);

const ROOM = 'load';
const PUBLISHERS = 3;
const PER_PUBLISHER = 600; // one every ~5 ms: about 3 s of traffic
const RESUMERS = 10;
const MIN_RECONNECTS = 5;

// The message ids one connection delivered, in order: history frames' messages, then live
// messages. `resume_truncated` would mean messages were skipped: it fails the test.
function idsOf(frames) {
  const out = [];
  for (const f of frames) {
    if (f.type === 'history') out.push(...f.messages.map((m) => m.id));
    else if (f.type === 'message') out.push(f.id);
    else if (f.type === 'resume_truncated' || f.type === 'error') out.push(`unexpected ${f.raw}`);
  }
  return out;
}

// "replay 5..12 (2 frames), live 11..40": what one connection delivered, for failure messages.
function describe_(frames) {
  const h = frames.filter((f) => f.type === 'history').flatMap((f) => f.messages.map((m) => m.id));
  const l = frames.filter((f) => f.type === 'message').map((f) => f.id);
  const span = (a) => (a.length ? `${a[0]}..${a.at(-1)}` : 'none');
  return `replay ${span(h)} (${frames.filter((f) => f.type === 'history').length} frames), live ${span(l)}`;
}

// First index where `seq` stops being from, from+1, ...; -1 if it never does.
function firstBreak(seq, from) {
  for (let i = 0; i < seq.length; i++) if (seq[i] !== from + i) return i;
  return -1;
}

function loadSuite(factory) {
  describe(`resume under load on ${factory.name}`, () => {
    let srv;
    before(async () => {
      await factory.init();
      const db = await factory.newDb();
      srv = await startServer({ args: db.args }); // startServer always gives --threads 2
    });
    after(async () => {
      await srv?.stop();
      await factory.close();
    });

    test(`${RESUMERS} resumers reconnecting with ?since= while ${PUBLISHERS} publishers send: each sees 1..N exactly once`, { timeout: 60000 }, async (t) => {
      // Resumers first: the room is empty, so from their first connection on they see everything.
      const resumers = [];
      for (let r = 0; r < RESUMERS; r++) {
        const name = `R${r}`;
        const conn = await srv.connect(ROOM, name, { path: wsPath(ROOM, name, 0), keepHistory: true });
        resumers.push({ name, conn, seen: [], epochs: [], reconnects: 0 });
      }
      const publishers = [];
      for (let p = 0; p < PUBLISHERS; p++) publishers.push(await srv.connect(ROOM, `P${p}`));

      let publishing = true;
      const pubDone = Promise.all(publishers.map(async (pub, p) => {
        for (let i = 0; i < PER_PUBLISHER; i++) {
          pub.send({ content: `P${p} #${i}` });
          await sleep(5);
        }
      })).finally(() => { publishing = false; });

      // Folds what a finished connection delivered into the resumer's sequence and checks the epoch
      // on its own: it must start right after `since` and be contiguous.
      const fold = (res, since) => {
        const got = idsOf(res.conn.received);
        const brk = firstBreak(got, since + 1);
        res.epochs.push({
          since, count: got.length, brk, around: brk < 0 ? null : got.slice(Math.max(0, brk - 3), brk + 3),
          what: describe_(res.conn.received),
        });
        res.seen.push(...got);
      };
      // The last id a resumer has seen (its current connection included).
      const lastSeen = (res) => {
        const got = [...res.seen, ...idsOf(res.conn.received)].filter((x) => typeof x === 'number');
        return got.at(-1) ?? 0;
      };

      const cycles = resumers.map(async (res) => {
        let since = 0;
        while (publishing || res.reconnects < MIN_RECONNECTS) {
          await sleep(80 + Math.random() * 400); // a random moment
          await res.conn.terminate();
          fold(res, since); // everything this connection delivered, up to the drop
          since = lastSeen(res);
          await sleep(Math.random() * 30);
          res.conn = await srv.connect(ROOM, res.name, { path: wsPath(ROOM, res.name, since), keepHistory: true, timeoutMs: 10000 });
          res.reconnects++;
        }
        return since;
      });

      await pubDone;
      const finalSince = await Promise.all(cycles);
      // Publishers' own echoes: all sent, everything acknowledged.
      await Promise.all(publishers.map((pub) => pub.messages(PER_PUBLISHER, 20000)));
      publishers[0].send({ content: 'final' });
      const final = await publishers[0].next((f) => f.type === 'message' && f.content === 'final', 10000, 'the final message');
      const N = final.id;
      assert.equal(N, PUBLISHERS * PER_PUBLISHER + 1, 'ids in the room');

      // Each resumer's last connection delivers up to the final message.
      const deadline = Date.now() + 15000;
      for (const res of resumers) {
        while (lastSeen(res) < N && Date.now() < deadline) await sleep(50);
      }
      await sleep(200); // anything extra (a duplicate) would arrive now
      resumers.forEach((res, i) => fold(res, finalSince[i]));

      const problems = [];
      for (const res of resumers) {
        const brk = firstBreak(res.seen, 1);
        if (brk >= 0 || res.seen.length !== N) {
          problems.push(`${res.name}: ${res.seen.length} ids (want ${N}), first break at #${brk}: ` +
            `${JSON.stringify(res.seen.slice(Math.max(0, brk - 3), brk + 3))}; broken epochs: ` +
            JSON.stringify(res.epochs.filter((e) => e.brk >= 0)));
        }
      }
      const reconnects = resumers.map((r) => r.reconnects);
      const replayed = resumers.flatMap((r) => r.epochs.map((e) => e.what));
      t.diagnostic(`N=${N}; reconnects per resumer: ${reconnects}; e.g. ${replayed.slice(1, 4).join(' | ')}`);
      assert.ok(reconnects.every((n) => n >= MIN_RECONNECTS), `reconnects per resumer: ${reconnects}`);
      assert.deepEqual(problems, [], `resumers that did not see exactly 1..${N}:\n${problems.join('\n')}`);

      // And the store holds exactly 1..N too.
      const stored = await fetchAllHistory(srv.port, ROOM);
      assert.deepEqual(stored.map((m) => m.id), range(1, N));
      await Promise.all([...publishers, ...resumers.map((r) => r.conn)].map((c) => c.close()));
    });
  });
}

loadSuite(sqliteFactory());
loadSuite(postgresFactory());
