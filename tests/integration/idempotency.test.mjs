// A retry with the same client_id is stored once even across a restart (issue 17, finding 4):
// a message stored before a crash whose echo the sender never saw, sent again with the same
// client_id after the restart, comes back as the original (same id and timestamp) and is not
// stored twice. On the main before, the owner's memory of client_ids died with the process and
// the retry was stored as a new message. Run against SQLite and PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, withTimeout, fileTimeout, metricValue } from './server.mjs';
import { sqliteFactory, postgresFactory, fetchAllHistory } from './postgres.mjs';

fileTimeout(90000);

for (const factory of [sqliteFactory(), postgresFactory()]) {
  describe(`client_id across a restart on ${factory.name}`, () => {
    const servers = [];
    before(async () => { await factory.init(); });
    after(async () => {
      for (const s of servers) await s.stop();
      await factory.close();
    });

    test('a retry after kill -9 gets the stored original back; nothing is stored twice', { timeout: 40000 }, async () => {
      const db = await factory.newDb();
      const first = await startServer({ args: db.args });
      servers.push(first);
      const ann = await first.connect('idem', 'Ann');
      ann.send({ content: 'before the crash', client_id: 'c-1' });
      const original = await ann.nextMessage();
      assert.equal(original.client_id, 'c-1', original.raw);
      ann.send({ content: 'second', client_id: 'c-2' });
      await ann.nextMessage();
      first.proc.kill('SIGKILL');
      await withTimeout(first.exited, 5000, 'the server to die');

      const second = await startServer({ args: db.args });
      servers.push(second);
      const again = await second.connect('idem', 'Ann');
      const bob = await second.connect('idem', 'Bob');
      // As a client whose echo was lost would: the same client_id, the same content.
      again.send({ content: 'before the crash', client_id: 'c-1' });
      const back = await again.nextMessage();
      assert.equal(back.id, original.id, back.raw);
      assert.equal(back.timestamp, original.timestamp, back.raw);
      assert.equal(back.client_id, 'c-1');
      // A new client_id is a new message, with the next id; Bob never sees the retry.
      again.send({ content: 'after the restart', client_id: 'c-3' });
      const fresh = await bob.nextMessage();
      assert.equal(fresh.content, 'after the restart', fresh.raw);
      assert.equal(fresh.id, original.id + 2, fresh.raw);
      const history = await fetchAllHistory(second.port, 'idem');
      assert.deepEqual(history.map((m) => m.client_id), ['c-1', 'c-2', 'c-3']);
      const m = await second.metrics();
      assert.equal(metricValue(m, 'parley_duplicates_suppressed_total'), 1);
      await again.close();
      await bob.close();
    });
  });
}
