// The cluster on a Redis Cluster (3 masters + 3 replicas, made with redis-cli --cluster create):
// the same promises with rooms, leases and inboxes spread over the slots of every master, and a
// master killed with kill -9 under load: sends are refused (cluster_unavailable) while its slots
// have no master, then everything flows again, with nothing lost and no client_id stored twice.
// The slowest cluster test (the Redis Cluster's start and failover): one scenario, kept short.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileTimeout, request, sleep } from './server.mjs';
import { startPostgres } from './postgres.mjs';
import { startRedisCluster, startInstances } from './cluster.mjs';
import { ChatClient, sendAll, waitSettled, health, ownerOf, checkRoom } from './cluster-chat.mjs';

fileTimeout(180000);

let pg;
before(async () => { pg = await startPostgres(); });
after(async () => { await pg?.stop(); });

test('on a Redis Cluster: rooms over every master, a master killed under load, nothing lost', { timeout: 150000 }, async (t) => {
  const rc = await startRedisCluster();
  t.after(() => rc.stop());
  const db = await pg.createDatabase();
  // One node's address is enough: the instances find the others (CLUSTER SLOTS).
  const inst = await startInstances(3, { redisUrl: `redis://127.0.0.1:${rc.ports[0]}`, db, leaseMs: 2000 });
  t.after(() => inst.stop());
  await waitSettled(inst, 3);
  const h = await health(inst.ports[0]);
  assert.equal(h.cluster.redis_mode, 'cluster');

  // Six rooms: their buckets (hash tags) land on different masters' slots.
  const rooms = ['north', 'south', 'east', 'west', 'up', 'down'];
  for (const room of rooms) {
    const owners = await Promise.all(inst.ports.map((p) => ownerOf(p, room)));
    assert.equal(new Set(owners).size, 1, `${room}: ${owners}`);
  }
  const clients = [];
  for (const room of rooms)
    for (let i = 0; i < 3; i++) clients.push(new ChatClient({ ports: () => inst.ports, room, username: `c${i}`, start: i }));
  await Promise.all(clients.map((c) => c.open()));

  const sending = sendAll(clients, { count: 25, perSecond: 10, timeoutMs: 90000 });
  await sleep(800);
  const killed = await rc.killMaster();
  t.diagnostic(`killed master on port ${killed?.port ?? killed}`);
  await sending;
  for (const room of rooms) {
    const inRoom = clients.filter((c) => c.room === room);
    const deadline = Date.now() + 20000;
    while (inRoom.some((c) => c.seen.length < 75) && Date.now() < deadline) await sleep(100);
    const history = await checkRoom(inst.ports[1], room, inRoom);
    assert.equal(history.length, 75, `${room}: ${history.length} stored`);
    for (const c of inRoom) assert.equal(c.seen.length, 75, `${c.username} in ${room}`);
  }
  const refused = clients.reduce((n, c) => n + c.errors.filter((e) => e.code === 'cluster_unavailable').length, 0);
  t.diagnostic(`cluster_unavailable answers during the failover: ${refused}`);
  const after = await health(inst.ports[2]);
  assert.equal(after.status, 'ok', JSON.stringify(after));
  for (const c of clients) c.close();
  const r = await request(inst.ports[0], '/metrics');
  assert.match(r.body, /parley_redis_moved_total \d+/);
});
