// The many-instance harness itself (cluster.mjs), proven before the cluster lands: a standalone
// redis-server answers, dies with SIGKILL and comes back empty on its port; a Redis Cluster of 3
// masters + 3 replicas is ok, and ok again after a master is killed (its replica promoted);
// nginx passes HTTP and WebSockets through to real Parley instances (here without --cluster),
// skips an upstream that refuses connections, and reaches an instance again after kill -9 and a
// restart on the same port. Runs in ~10 s: the servers start in parallel.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileTimeout, request, withTimeout } from './server.mjs';
import { connect, upgradeRequest } from './client.mjs';
import { startPostgres } from './postgres.mjs';
import { startRedis, startRedisCluster, startNginx, startInstances, redisCommand, freePortWithBus } from './cluster.mjs';

fileTimeout(60000);

let redis, rc, pg, inst, nginx, deadPort;
const cleanups = [];

before(async () => {
  // Everything at once: the cluster's create + replica sync and PostgreSQL's initdb are the slow parts.
  [redis, rc, pg] = await Promise.all([
    startRedis().then((r) => { cleanups.push(() => r.stop()); return r; }),
    startRedisCluster().then((r) => { cleanups.push(() => r.stop()); return r; }),
    startPostgres().then((p) => { cleanups.push(() => p.stop()); return p; }),
  ]);
  // Two single instances (no --cluster yet), each on its own PostgreSQL database: without the
  // cluster, two instances must not share one (each would number a room's messages itself).
  const dbs = [await pg.createDatabase(), await pg.createDatabase()];
  inst = await startInstances(2, { cluster: false, db: (i) => dbs[i] });
  cleanups.push(() => inst.stop());
  deadPort = await freePortWithBus(); // nothing listens there: nginx must go on to the next upstream
  nginx = await startNginx({ upstreams: [deadPort, ...inst.ports] });
  cleanups.push(() => nginx.stop());
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

test('a standalone redis-server answers, is killed with SIGKILL and restarts empty on its port', async () => {
  assert.equal(await redis.command('PING'), 'PONG');
  assert.equal(await redis.command('SET', 'parley:k', 'v'), 'OK');
  assert.equal(await redis.command('GET', 'parley:k'), 'v');
  // Sharded pub/sub exists on a standalone Redis 7 (the cluster's one code path relies on it).
  assert.equal(await redis.command('SPUBLISH', 'parley:room:{pb1}:x', 'hello'), 0);
  const pid = redis.pid;
  assert.equal(await redis.kill9(), 'SIGKILL');
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  await assert.rejects(redisCommand(redis.port, ['PING'], { timeoutMs: 500 }));
  await redis.restart();
  assert.notEqual(redis.pid, pid);
  assert.equal(await redis.command('PING'), 'PONG');
  assert.equal(await redis.command('GET', 'parley:k'), null, 'no persistence: a restart comes back empty');
});

test('a Redis Cluster of 3 masters + 3 replicas is ok, then ok again after a master is killed', async () => {
  const masters = await rc.masters();
  assert.equal(masters.length, 3);
  assert.equal(masters.reduce((s, m) => s + m.slots, 0), 16384);
  assert.equal(rc.url.split(',').length, 6);
  // A key on a slot of another master is refused with MOVED: the cluster is really sharded.
  const moved = await Promise.all(masters.map((m) => redisCommand(m.port, ['SET', 'parley:lease:{pb0}', 'x'])));
  assert.equal(moved.filter((r) => r === 'OK').length, 1, JSON.stringify(moved));
  assert.equal(moved.filter((r) => r?.error?.startsWith('MOVED ')).length, 2, JSON.stringify(moved));

  const t0 = Date.now();
  const killed = await rc.killMaster();
  await rc.waitOk(15000, { replicasUp: false });
  const after = await rc.masters();
  assert.equal(after.length, 3);
  assert.ok(!after.some((m) => m.port === killed), `the killed master ${killed} serves no slot any more`);
  assert.ok(Date.now() - t0 < 15000);
  // A write to each master's slots goes through again.
  const owner = await Promise.all(after.map((m) => redisCommand(m.port, ['SET', 'parley:lease:{pb0}', 'y'])));
  assert.equal(owner.filter((r) => r === 'OK').length, 1, JSON.stringify(owner));
});

test('nginx passes HTTP and WebSockets to Parley, past an upstream that refuses connections', async () => {
  // Several requests: the balancer reaches the dead upstream and must go on to a live one.
  for (let i = 0; i < 6; i++) {
    const r = await request(nginx.port, '/healthz');
    assert.equal(r.status, 200, r.body);
  }
  // A browser's Origin is http://<the proxy's host:port>: Host is passed through unchanged, so
  // Parley's same-origin check accepts the page it served through nginx.
  const up = await upgradeRequest(nginx.port, '/ws/harness?username=origin1', { headers: { Origin: nginx.url } });
  assert.equal(up.status, 101, JSON.stringify(up));

  // Six clients through nginx, each in its own room (without the cluster two instances do not
  // share rooms): each gets its own message back, and least_conn spread them over both instances.
  const clients = [];
  for (let i = 0; i < 6; i++) clients.push(await connect(nginx.port, `harness-${i}`, `user${i}`));
  for (const [i, c] of clients.entries()) c.send({ content: `through nginx ${i}` });
  const got = await Promise.all(clients.map((c) => c.nextMessage()));
  assert.deepEqual(got.map((m) => m.content), clients.map((_, i) => `through nginx ${i}`));
  const counts = await Promise.all(inst.instances.map(async (s) => (await s.healthz()).connections));
  assert.equal(counts[0] + counts[1], 6, JSON.stringify(counts));
  assert.ok(counts[0] > 0 && counts[1] > 0, `both instances reached: ${JSON.stringify(counts)}`);
  await Promise.all(clients.map((c) => c.close()));
  assert.match(nginx.errorLog(), new RegExp(`127\\.0\\.0\\.1:${deadPort}`), 'nginx tried the dead upstream');
});

test('an instance killed with SIGKILL and restarted on its port is reached through nginx again', async () => {
  const c = await connect(inst.instances[0].port, 'harness-restart', 'carol');
  assert.equal(await inst.kill9(0), 'SIGKILL');
  await withTimeout(c.closed, 3000, 'the client sees its instance die');
  // With instance 0 dead, nginx still answers every request through instance 1.
  for (let i = 0; i < 4; i++) assert.equal((await request(nginx.port, '/healthz')).status, 200);
  await inst.restart(0);
  const d = await connect(inst.instances[0].port, 'harness-restart', 'dave');
  d.send({ content: 'back' });
  assert.equal((await d.nextMessage()).content, 'back');
  await d.close();
  const w = await connect(nginx.port, 'harness-restart', 'erin');
  w.send({ content: 'via nginx' });
  assert.equal((await w.nextMessage()).content, 'via nginx');
  await w.close();
});
