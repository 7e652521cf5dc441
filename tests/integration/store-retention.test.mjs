// Retention (--retention-messages, --retention-days, --retention-interval): old messages go, a
// room's newest message never does, so ids continue, also across a restart. SQLite and PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, fileTimeout } from './server.mjs';
import { sqliteFactory, postgresFactory, fetchAllHistory, poll, range } from './postgres.mjs';

fileTimeout(90000);

const ids = (ms) => ms.map((m) => m.id);

async function sendAll(client, contents) {
  for (const content of contents) client.send({ content });
  return client.messages(contents.length, 10000);
}

function retentionSuite(factory) {
  describe(`retention on ${factory.name}`, () => {
    const servers = [];
    before(async () => { await factory.init(); });
    after(async () => {
      for (const s of servers) await s.stop();
      await factory.close();
    });
    async function server(args) {
      const srv = await startServer({ args });
      servers.push(srv);
      return srv;
    }

    test('--retention-messages 5: only the newest 5 per room stay; ids continue, also after a restart', { timeout: 30000 }, async () => {
      const db = await factory.newDb();
      const flags = ['--retention-messages', '5', '--retention-interval', '0.5'];
      const srv = await server([...db.args, ...flags]);
      const a = await srv.connect('keep5', 'Ann');
      const b = await srv.connect('keep5-small', 'Bob');
      const sent = await sendAll(a, range(1, 20).map((i) => `k${i}`));
      assert.deepEqual(ids(sent), range(1, 20));
      await sendAll(b, ['s1', 's2', 's3']);

      const t0 = Date.now();
      const left = await poll(() => fetchAllHistory(srv.port, 'keep5'), (ms) => ms.length === 5, 3000, 100);
      assert.deepEqual(ids(left), range(16, 20), `after ${Date.now() - t0} ms`);
      assert.deepEqual(left.map((m) => JSON.stringify(m)), sent.slice(15).map((m) => JSON.stringify(m)));
      // A room under the limit is untouched.
      assert.deepEqual(ids(await fetchAllHistory(srv.port, 'keep5-small')), [1, 2, 3]);

      a.send({ content: 'k21' });
      assert.equal((await a.next((f) => f.type === 'message', 5000, 'k21')).id, 21);

      // The join history and paging see only what is left; has_more is false at the start.
      const c = await srv.connect('keep5', 'Cat', { keepHistory: true });
      const h = await c.next((f) => f.type === 'history', 5000, 'the join history');
      const now = await poll(() => fetchAllHistory(srv.port, 'keep5'), (ms) => ms.length === 5, 3000, 100);
      assert.deepEqual(ids(now), range(17, 21));
      assert.ok(h.messages.length <= 6 && h.messages.at(-1).id === 21, h.raw);
      await Promise.all([a.close(), b.close(), c.close()]);

      // Restart: the ids continue from the newest kept.
      await srv.stop();
      const again = await server([...db.args, ...flags]);
      const d = await again.connect('keep5', 'Dan');
      d.send({ content: 'k22' });
      assert.equal((await d.next((f) => f.type === 'message', 5000, 'k22')).id, 22);
      await d.close();
    });

    test('--retention-days: old messages go, but never a room\'s newest, so ids continue', { timeout: 30000 }, async () => {
      const db = await factory.newDb();
      // 0.00001 days = 0.864 s.
      const flags = ['--retention-days', '0.00001', '--retention-interval', '0.5'];
      const srv = await server([...db.args, ...flags]);
      const a = await srv.connect('aging', 'Ann');
      const b = await srv.connect('aging-2', 'Bob');
      await sendAll(a, range(1, 10).map((i) => `old ${i}`));
      await sendAll(b, ['only']);

      const t0 = Date.now();
      const left = await poll(() => fetchAllHistory(srv.port, 'aging'), (ms) => ms.length === 1, 4000, 100);
      assert.deepEqual(ids(left), [10], `after ${Date.now() - t0} ms: the newest stays`);
      assert.deepEqual(ids(await fetchAllHistory(srv.port, 'aging-2')), [1], 'a room\'s only message stays');

      a.send({ content: 'new' });
      const m = await a.next((f) => f.type === 'message', 5000, 'new');
      assert.equal(m.id, 11, m.raw);
      const later = await poll(() => fetchAllHistory(srv.port, 'aging'), (ms) => ms.length === 1 && ms[0].id === 11, 4000, 100);
      assert.deepEqual(ids(later), [11]);
      await Promise.all([a.close(), b.close()]);

      // Restart: ids continue after the aged-out ones.
      await srv.stop();
      const again = await server([...db.args, ...flags]);
      const c = await again.connect('aging', 'Cat');
      c.send({ content: 'after restart' });
      assert.equal((await c.next((f) => f.type === 'message', 5000, 'after restart')).id, 12);
      const d = await again.connect('aging-2', 'Dan');
      d.send({ content: 'second' });
      assert.equal((await d.next((f) => f.type === 'message', 5000, 'second')).id, 2);
      await Promise.all([c.close(), d.close()]);
    });
  });
}

retentionSuite(sqliteFactory());
retentionSuite(postgresFactory());
