// Harness for the many-instance tests (issue 15): real redis-server processes (one, or a Redis
// Cluster of masters and replicas), nginx in front of several upstream ports, and K Parley
// instances started with --cluster. PostgreSQL comes from postgres.mjs (startPostgres), Parley
// itself from server.mjs (startServer). Everything runs as the current user on 127.0.0.1, on free
// ports, in temp dirs; every helper resolves an object with stop(), and every process it starts is
// killed (with its process group) if the test process exits first.
//
//   const redis = await startRedis();             // redis.url = 'redis://127.0.0.1:P'
//   await redis.command('SET', 'k', 'v');         // one command over a fresh connection (RESP)
//   await redis.kill9();  await redis.restart();  // SIGKILL, then the same port again (empty: no persistence)
//   const rc = await startRedisCluster();         // 3 masters + 3 replicas, cluster_state:ok everywhere
//   const gone = await rc.killMaster();           // SIGKILL one master; await rc.waitOk() for the failover
//   const nginx = await startNginx({ upstreams: [p1, p2, p3] });   // nginx.port, nginx.wsUrl
//   const cl = await startInstances(3, { redisUrl: redis.url, db: pgUrl });   // cl.instances[i] = startServer()'s object
//
// Why each process gets its own process group (spawn detached): nginx forks workers that outlive
// a SIGKILLed master, so cleanup kills the whole group (kill(-pid)), never a name.
//
// Ports: a Redis Cluster node also listens on port + 10000 (its bus), so its ports come from
// freePortWithBus(), which checks both.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep, startServer, request } from './server.mjs';

const live = new Set(); // process groups still running: SIGKILLed if the test process exits first
process.on('exit', () => {
  for (const pid of live) {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});
// A test process ended by a signal would otherwise leave redis-server and nginx behind (they are
// in their own process groups, so the terminal's signal does not reach them): exit as the signal
// would have, which runs the 'exit' handler above. (postgres.mjs installs the same.)
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(code));
}

const REDIS_SERVER = process.env.PARLEY_REDIS_SERVER || 'redis-server';
const REDIS_CLI = process.env.PARLEY_REDIS_CLI || 'redis-cli';
const NGINX = process.env.PARLEY_NGINX || 'nginx';

// ---- processes -----------------------------------------------------------------------------

// Spawns `cmd` in its own process group, output kept (last 64 KiB) for failure messages.
// Resolves nothing; returns {proc, exited (promise of code or signal name), output(), kill(sig)}.
function spawnGroup(cmd, args, { cwd } = {}) {
  const proc = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc.pid);
  let log = '';
  const keep = (chunk) => {
    const s = chunk.toString();
    if (process.env.PARLEY_TEST_LOG) process.stderr.write(s);
    log = (log + s).slice(-64 * 1024);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let exitValue;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc.pid);
      exitValue = code ?? signal;
      resolve(exitValue);
    });
    proc.on('error', (err) => {
      live.delete(proc.pid);
      exitValue = `spawn error: ${err.message}`;
      resolve(exitValue);
    });
  });
  return {
    proc,
    exited,
    get exitValue() { return exitValue; },
    output: () => log,
    // Signals the whole group; resolves the exit value (SIGKILL after graceMs if still running).
    async kill(signal = 'SIGTERM', graceMs = 5000) {
      if (exitValue !== undefined) return exitValue;
      try { process.kill(-proc.pid, signal); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
      await exited;
      clearTimeout(timer);
      // nginx's workers may still be exiting after the master: make sure the group is gone.
      try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ }
      return exitValue;
    },
  };
}

// A port whose port + 10000 is free too (a Redis Cluster node's bus), below 55536 so the bus
// port exists. Picked at random in 20000-45535 and checked by binding both.
export async function freePortWithBus() {
  const canBind = (port) => new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 25536);
    if (await canBind(p) && await canBind(p + 10000)) return p;
  }
  throw new Error('no free port pair (p, p + 10000) found');
}

// Resolves when something accepts TCP connections on 127.0.0.1:port; rejects after timeoutMs.
export async function waitListening(port, timeoutMs = 5000, isDead = () => undefined) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    const dead = isDead();
    if (dead !== undefined) throw new Error(`exited (${dead}) before listening on ${port}`);
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port} after ${timeoutMs} ms`);
    await sleep(25);
  }
}

// ---- a minimal Redis client (RESP2), enough to drive and check the servers ----------------

// Parses one RESP reply from buf at offset; returns {value, end} or null if incomplete. Errors
// become {error: 'ERR ...'} values (not thrown), so a caller can assert on them.
function parseResp(buf, off = 0) {
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+': return { value: line, end: next };
    case '-': return { value: { error: line }, end: next };
    case ':': return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const out = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const r = parseResp(buf, at);
        if (!r) return null;
        out.push(r.value);
        at = r.end;
      }
      return { value: out, end: at };
    }
    default: throw new Error(`not RESP: ${JSON.stringify(buf.toString('utf8', off, Math.min(buf.length, off + 80)))}`);
  }
}

function encodeCommand(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const s = String(a);
    parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
  }
  return parts.join('');
}

// Sends `args` as one command over a fresh connection to 127.0.0.1:port; resolves the reply
// (an {error} object for an error reply). Rejects on a connection failure or after timeoutMs.
export function redisCommand(port, args, { timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => s.destroy(new Error(`redis ${port} ${args[0]}: no reply after ${timeoutMs} ms`)), timeoutMs);
    s.once('connect', () => s.write(encodeCommand(args)));
    s.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let r;
      try { r = parseResp(buf); } catch (err) { s.destroy(err); return; }
      if (r) {
        clearTimeout(timer);
        s.destroy();
        resolve(r.value);
      }
    });
    s.once('error', (err) => { clearTimeout(timer); reject(err); });
    s.once('close', () => { clearTimeout(timer); reject(new Error(`redis ${port}: closed before a reply`)); });
  });
}

// PING until PONG (after a start, a restart or a failover); rejects after timeoutMs.
async function waitPong(port, timeoutMs, isDead) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const r = await redisCommand(port, ['PING'], { timeoutMs: 500 });
      if (r === 'PONG') return;
      last = JSON.stringify(r);
    } catch (err) { last = err.message; }
    const dead = isDead();
    if (dead !== undefined) throw new Error(`redis-server on ${port} exited (${dead}): ${last}`);
    if (Date.now() > deadline) throw new Error(`redis-server on ${port}: no PONG after ${timeoutMs} ms (${last})`);
    await sleep(25);
  }
}

// ---- one redis-server ----------------------------------------------------------------------

// One redis-server on 127.0.0.1 (a free port unless `port`), no persistence (--save '' and
// --appendonly no: what the cluster must survive is a Redis that comes back empty), its dir and
// log in `dir` (a new temp dir unless given). `args`: more redis-server options.
// Resolves {port, url, dir, pid, command(...args), kill9(), restart(), stop(), output()}.
export async function startRedis({ port, dir, args = [], readyTimeoutMs = 5000 } = {}) {
  const ownDir = !dir;
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'parley-redis-'));
  port ??= await freePort();
  const argv = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no', ...args];
  let child = null;
  let stopped = false;

  async function launch() {
    child = spawnGroup(REDIS_SERVER, argv, { cwd: dir });
    try {
      await waitPong(port, readyTimeoutMs, () => child.exitValue);
    } catch (err) {
      await child.kill('SIGKILL');
      throw new Error(`${err.message}\n${child.output()}`);
    }
  }
  await launch();

  const redis = {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    get pid() { return child.proc.pid; },
    get running() { return child.exitValue === undefined; },
    output: () => child.output(),
    command: (...cmd) => redisCommand(port, cmd),
    // SIGKILL: the process is gone at once, no shutdown work, nothing saved.
    async kill9() { return child.kill('SIGKILL'); },
    // Starts again on the same port, same options (after kill9 or stop).
    async restart() {
      if (redis.running) throw new Error(`redis-server on ${port} still runs: kill9() or stop() it first`);
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await child.kill('SIGTERM');
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return redis;
}

// ---- a Redis Cluster -----------------------------------------------------------------------

// Parses CLUSTER NODES into [{id, port, flags: [..], master: id|'-', connected, slots: n}].
export function parseClusterNodes(text) {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const f = line.split(' ');
    const port = Number(f[1].split('@')[0].split(':').pop());
    let slots = 0;
    for (const r of f.slice(8)) {
      if (r.startsWith('[')) continue; // a slot being migrated
      const [a, b] = r.split('-').map(Number);
      slots += (b ?? a) - a + 1;
    }
    return { id: f[0], port, flags: f[2].split(','), master: f[3], connected: f[7] === 'connected', slots };
  });
}

// `masters` masters with `replicas` replicas each (3 and 1: six redis-servers), made a cluster
// with `redis-cli --cluster create`, ready when every live node says cluster_state:ok and sees
// every master with its replicas connected. --cluster-node-timeout `nodeTimeoutMs` (1000): a
// killed master's slots are refused for about 2-3 x that, then its replica takes over.
// Resolves {nodes: [{port, pid, running, kill9(), restart()}], ports, url ('redis://h:p,h:p,...',
// every node), masters(), info(port), waitOk(), killMaster(), stop()}.
export async function startRedisCluster({ masters = 3, replicas = 1, nodeTimeoutMs = 1000, readyTimeoutMs = 20000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-rcluster-'));
  const count = masters * (1 + replicas);
  const ports = [];
  while (ports.length < count) {
    const p = await freePortWithBus();
    if (!ports.includes(p) && !ports.includes(p + 10000) && !ports.includes(p - 10000)) ports.push(p);
  }
  const nodes = [];
  const rc = {
    dir,
    ports,
    nodes,
    url: `redis://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    // CLUSTER INFO of one node as an object ({cluster_state: 'ok', ...}).
    async info(port) {
      const text = await redisCommand(port, ['CLUSTER', 'INFO'], { timeoutMs: 1000 });
      if (typeof text !== 'string') throw new Error(`CLUSTER INFO on ${port}: ${JSON.stringify(text)}`);
      return Object.fromEntries(text.trim().split(/\r?\n/).map((l) => l.split(':')));
    },
    // The masters serving slots, as seen by a live node: [{id, port, slots}].
    async masters() {
      const node = nodes.find((n) => n.running);
      const all = parseClusterNodes(await redisCommand(node.port, ['CLUSTER', 'NODES']));
      return all.filter((n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots > 0);
    },
    // Until every live node says cluster_state:ok, sees `masters` masters serving all 16384 slots
    // and (unless a replica died or was promoted) each with its replicas connected.
    async waitOk(timeoutMs = readyTimeoutMs, { replicasUp = true } = {}) {
      const deadline = Date.now() + timeoutMs;
      let why = '';
      for (;;) {
        try {
          why = '';
          for (const n of nodes.filter((x) => x.running)) {
            const info = await rc.info(n.port);
            if (info.cluster_state !== 'ok') { why = `${n.port}: cluster_state:${info.cluster_state}`; break; }
            const all = parseClusterNodes(await redisCommand(n.port, ['CLUSTER', 'NODES']));
            const serving = all.filter((x) => x.flags.includes('master') && !x.flags.includes('fail') && x.slots > 0);
            const slots = serving.reduce((s, x) => s + x.slots, 0);
            if (serving.length !== masters || slots !== 16384) {
              why = `${n.port}: ${serving.length} masters serving ${slots} slots`;
              break;
            }
            // A killed master is still "serving" until the others mark it failed and promote
            // its replica (~2-3 node timeouts): not ok until every serving master is alive.
            const dead = serving.find((m) => !nodes.some((x) => x.port === m.port && x.running));
            if (dead) { why = `${n.port}: the dead node ${dead.port} still serves slots`; break; }
            if (replicasUp) {
              for (const m of serving) {
                const reps = all.filter((x) => x.master === m.id && x.connected && !x.flags.includes('fail'));
                if (reps.length < replicas) { why = `${n.port}: master ${m.port} has ${reps.length} replicas`; break; }
              }
              if (why) break;
              // The bus says "connected" before the replica has its data: a master killed then
              // has a replica that cannot take over. Wait for replication itself.
              const me = all.find((x) => x.flags.includes('myself'));
              if (me?.flags.includes('slave')) {
                const repl = await redisCommand(n.port, ['INFO', 'replication'], { timeoutMs: 1000 });
                if (!/master_link_status:up/.test(repl)) { why = `${n.port}: replica link not up`; break; }
              }
            }
          }
          if (!why) return;
        } catch (err) { why = err.message; }
        if (Date.now() > deadline) {
          throw new Error(`Redis Cluster not ok after ${timeoutMs} ms: ${why}\n` +
            nodes.map((n) => `--- node ${n.port}\n${n.output().slice(-1500)}`).join('\n'));
        }
        await sleep(50);
      }
    },
    // SIGKILLs one master (the first serving slots, or the one on `port`); resolves its port. The
    // cluster refuses that master's slots until a replica is promoted: rc.waitOk({replicasUp: false}).
    async killMaster(port) {
      const ms = await rc.masters();
      const target = port ?? ms[0].port;
      const node = nodes.find((n) => n.port === target);
      if (!node || !ms.some((m) => m.port === target)) throw new Error(`${target} is not a master serving slots`);
      await node.kill9();
      return target;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const p of ports) {
      const nodeDir = path.join(dir, String(p));
      fs.mkdirSync(nodeDir);
      nodes.push(await startRedis({
        port: p,
        dir: nodeDir,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf'),
          '--cluster-node-timeout', String(nodeTimeoutMs),
          // Replicas sync at once instead of after the default 5 s wait for more replicas.
          '--repl-diskless-sync-delay', '0'],
      }));
    }
    await new Promise((resolve, reject) => {
      execFile(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: readyTimeoutMs },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`redis-cli --cluster create failed (${err.code ?? err.signal}): ${stderr}\n${stdout}`));
        else resolve();
      });
    });
    await rc.waitOk();
  } catch (err) {
    await rc.stop();
    throw err;
  }
  return rc;
}

// ---- nginx -----------------------------------------------------------------------------------

// The nginx configuration of the harness, `make cluster` (scripts/cluster.sh) and
// docs/OPERATIONS.md ("Running many instances"): scripts/nginx-cluster.conf.in with its
// placeholders filled. `dir` holds everything nginx writes (pid, error log, temp files).
const NGINX_TEMPLATE = new URL('../../scripts/nginx-cluster.conf.in', import.meta.url);
export function nginxConfig({ dir, port, upstreams }) {
  const servers = upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join('\n');
  return fs.readFileSync(NGINX_TEMPLATE, 'utf8')
    .replaceAll('@DIR@', dir).replaceAll('@PORT@', String(port)).replaceAll('@SERVERS@', servers);
}

// nginx on 127.0.0.1 (a free port unless `port`) in front of `upstreams` (Parley ports), from a
// temp dir: nginx -p DIR -c DIR/nginx.conf -e DIR/error.log, daemon off, master and one worker.
// Resolves {port, url, wsUrl, dir, conf, errorLog(), stop()}.
export async function startNginx({ upstreams, port, readyTimeoutMs = 5000 } = {}) {
  if (!upstreams?.length) throw new Error('startNginx: upstreams (ports) required');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-nginx-'));
  port ??= await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig({ dir, port, upstreams }));
  const child = spawnGroup(NGINX, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], { cwd: dir });
  const errorLog = () => { try { return fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-8000); } catch { return ''; } };
  try {
    await waitListening(port, readyTimeoutMs, () => child.exitValue);
  } catch (err) {
    await child.kill('SIGKILL');
    const log = errorLog();
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx: ${err.message}\n${child.output()}\n${log}`);
  }
  let stopped = false;
  return {
    port,
    dir,
    conf,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    get pid() { return child.proc.pid; },
    errorLog,
    // SIGTERM: nginx's fast shutdown (open WebSockets are cut), then the group is gone.
    async stop() {
      if (stopped) return;
      stopped = true;
      await child.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- K Parley instances ----------------------------------------------------------------------

// K Parley instances on free ports, started one after the other with startServer (so each
// answers /healthz 200 before the next starts), all with the same --jwt-secret:
//   cluster: true (default): --cluster redisUrl --instance-id <prefix>-<i> --cluster-lease-ms leaseMs
//   cluster: false: no cluster flags (single instances; what the harness can prove before the
//     cluster lands). Then instances must not share a database: pass `db` as a function.
// `db`: a postgres:// URL they share, or (i) => URL, or undefined (each its own SQLite file).
// Resolves {instances, ports, ids, kill9(i), restart(i), stop()}; instances[i] is startServer()'s
// object (port, url, connect(), healthz(), metrics(), stop(), output()).
export async function startInstances(k, { redisUrl, db, cluster = true, leaseMs = 5000, idPrefix = 'p',
  jwtSecret = 'parley-cluster-test-secret-0123456789abcdef', args = [], env = {}, readyTimeoutMs = 15000 } = {}) {
  if (cluster && !redisUrl) throw new Error('startInstances: redisUrl required with cluster: true');
  const ids = Array.from({ length: k }, (_, i) => `${idPrefix}${i + 1}`);
  const argsFor = (i) => {
    const a = ['--jwt-secret', jwtSecret, ...args];
    const url = typeof db === 'function' ? db(i) : db;
    if (url) a.push('--db', url);
    if (cluster) a.push('--cluster', redisUrl, '--instance-id', ids[i], '--cluster-lease-ms', String(leaseMs));
    return a;
  };
  const instances = [];
  const set = {
    instances,
    ids,
    get ports() { return instances.map((s) => s.port); },
    // SIGKILL instance i (no shutdown: its clients see the connection drop); resolves when gone.
    async kill9(i) {
      instances[i].proc.kill('SIGKILL');
      return instances[i].exited;
    },
    // Starts instance i again on its port with the same arguments (after kill9 or stop).
    async restart(i) {
      const old = instances[i];
      instances[i] = await startServer({ args: argsFor(i), port: old.port, env, readyTimeoutMs });
      return instances[i];
    },
    async stop() {
      await Promise.all(instances.map((s) => s.stop()));
    },
  };
  try {
    for (let i = 0; i < k; i++) instances.push(await startServer({ args: argsFor(i), env, readyTimeoutMs }));
  } catch (err) {
    await set.stop();
    throw err;
  }
  return set;
}

// GET path through any port (nginx or an instance): {status, json, body, headers}.
export const get = (port, urlPath, opts) => request(port, urlPath, opts);
