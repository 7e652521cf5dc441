// A throw-away PostgreSQL 15 cluster for the integration tests (the Debian package; `make test`
// installs it). One cluster per test file: initdb in a fresh temp dir, started on a free loopback
// port with fsync off, stopped and removed at the end (also when the test process dies first).
//
//   const pg = await startPostgres();
//   const url = await pg.createDatabase();   // postgres://parley@127.0.0.1:PORT/parley_test_N
//   await pg.pause();  await pg.resume();    // pg_ctl stop -m fast / start, same port and data
//   await pg.stop();                         // for good: stop and rm -rf
//
// As root, initdb refuses to run, so every server-side binary runs as the `postgres` user
// (runuser); the temp dir is chowned to it. Client tools (psql) connect over TCP with trust auth.
// PARLEY_PG_BINDIR overrides /usr/lib/postgresql/15/bin.

import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, request, sleep } from './server.mjs';

const BINDIR = process.env.PARLEY_PG_BINDIR || '/usr/lib/postgresql/15/bin';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const clusters = new Set(); // still running: stopped (immediate mode) if the process exits first
process.on('exit', () => {
  for (const c of clusters) c.killSync();
});
// pg_ctl daemonizes the postmaster, so it would outlive a test process killed by a signal: on the
// usual termination signals, stop the clusters and exit as the signal would have (the 'exit'
// handlers, server.mjs's included, run too). Installed once the first cluster starts.
let signalsHooked = false;
function hookSignals() {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
    process.once(sig, () => process.exit(code));
  }
}

// Runs a PostgreSQL binary (as the postgres user when we are root). Resolves stdout; rejects with
// stdout/stderr in the message. Never hangs: killed after timeoutMs.
function run(bin, args, { asPostgres = true, timeoutMs = 30000 } = {}) {
  const exe = path.join(BINDIR, bin);
  const [cmd, argv] = asPostgres && isRoot ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${bin} ${args.join(' ')} failed (${err.code ?? err.signal}): ${stderr || stdout || err.message}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

// Fails with a message that says what to install when the binaries are not there.
export function checkPostgresInstalled() {
  const missing = ['initdb', 'pg_ctl', 'psql', 'postgres'].filter((b) => !fs.existsSync(path.join(BINDIR, b)));
  if (missing.length) {
    throw new Error(`PostgreSQL 15 is not installed: ${missing.join(', ')} missing from ${BINDIR}. ` +
      'Install the Debian packages postgresql-15 and postgresql-client-15 (`make test` does), ' +
      'or set PARLEY_PG_BINDIR to the directory holding initdb, pg_ctl, psql and postgres.');
  }
  if (isRoot) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'pipe' });
    } catch {
      throw new Error('running as root, but there is no `postgres` user to run initdb/pg_ctl as ' +
        '(the Debian postgresql package creates it)');
    }
  }
}

let dbCounter = 0;

export async function startPostgres({ startTimeoutMs = 30000 } = {}) {
  checkPostgresInstalled();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-pg-'));
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    fs.chownSync(dir, uid, gid);
  }
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  let running = false;

  const cluster = {
    port,
    dir,
    host: '127.0.0.1',
    get running() { return running; },
    log: () => { try { return fs.readFileSync(path.join(dir, 'log'), 'utf8').slice(-8000); } catch { return ''; } },
    url: (db) => `postgres://parley@127.0.0.1:${port}/${db}`,
    killSync() {
      try {
        const exe = path.join(BINDIR, 'pg_ctl');
        const args = ['-D', dataDir, '-m', 'immediate', 'stop'];
        if (isRoot) execFileSync('runuser', ['-u', 'postgres', '--', exe, ...args], { stdio: 'ignore', timeout: 10000 });
        else execFileSync(exe, args, { stdio: 'ignore', timeout: 10000 });
      } catch { /* not running */ }
      fs.rmSync(dir, { recursive: true, force: true });
      clusters.delete(cluster);
    },
    // pg_ctl start (again), same data and port; waits until it accepts connections.
    async resume() {
      await run('pg_ctl', ['-D', dataDir, '-w', '-t', String(Math.ceil(startTimeoutMs / 1000)), '-l', path.join(dir, 'log'),
        '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'],
      { timeoutMs: startTimeoutMs + 5000 });
      running = true;
    },
    // pg_ctl stop -m fast: the database goes away under the server (connections are dropped).
    async pause() {
      await run('pg_ctl', ['-D', dataDir, '-w', '-m', 'fast', 'stop']);
      running = false;
    },
    // Runs one SQL command through psql (as the superuser `parley`, over TCP). Resolves stdout.
    psql(sql, db = 'postgres') {
      return run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'parley', '-d', db,
        '-v', 'ON_ERROR_STOP=1', '-X', '-A', '-t', '-c', sql], { asPostgres: false });
    },
    // A fresh, empty database; resolves its postgres:// URL.
    async createDatabase(name = `parley_test_${process.pid}_${++dbCounter}`) {
      await cluster.psql(`CREATE DATABASE ${name}`);
      return cluster.url(name);
    },
    // Stops the cluster for good and removes its files.
    async stop() {
      if (!clusters.has(cluster)) return;
      if (running) {
        try { await run('pg_ctl', ['-D', dataDir, '-w', '-m', 'fast', 'stop']); } catch { /* killSync below */ }
        running = false;
      }
      cluster.killSync();
    },
  };
  clusters.add(cluster);
  hookSignals();

  try {
    await run('initdb', ['--no-sync', '-A', 'trust', '-U', 'parley', '-E', 'UTF8', '--locale', 'C', '-D', dataDir]);
    await cluster.resume();
  } catch (err) {
    const log = cluster.log();
    cluster.killSync();
    throw new Error(`could not start PostgreSQL: ${err.message}\n${log}`);
  }
  return cluster;
}

// Store factories for the suites that run against both stores. A factory has
//   name, init() (once per file), newDb() -> {args, url} (a fresh, empty store), close().
export function sqliteFactory() {
  const dirs = [];
  return {
    name: 'sqlite',
    async init() {},
    async newDb() {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-test-'));
      dirs.push(d);
      const url = `sqlite:${path.join(d, 'parley.db')}`;
      return { url, args: ['--db', url] };
    },
    async close() {
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    },
  };
}

export function postgresFactory() {
  const f = {
    name: 'postgres',
    pg: null,
    async init() { f.pg = await startPostgres(); },
    async newDb() {
      if (!f.pg) throw new Error('PostgreSQL did not start (see the first failure)');
      const url = await f.pg.createDatabase();
      return { url, args: ['--db', url] };
    },
    async close() { await f.pg?.stop(); },
  };
  return f;
}

// ---- Helpers shared by the history / resume / crash / store tests ----

// The WebSocket path of `room` for `username`, resuming after `since` when given.
export function wsPath(room, username, since) {
  let p = `/ws/${encodeURIComponent(room)}?username=${encodeURIComponent(username)}`;
  if (since !== undefined) p += `&since=${encodeURIComponent(String(since))}`;
  return p;
}

// GET /api/rooms/{room}/messages with `query` (an object; undefined members left out).
export function getPage(port, room, query = {}) {
  const q = Object.entries(query).filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&');
  return request(port, `/api/rooms/${encodeURIComponent(room)}/messages${q ? `?${q}` : ''}`);
}

// The whole stored history of `room` over HTTP, oldest first, paging back 200 at a time from the
// newest. Throws on a non-200 page or a page that does not go back.
export async function fetchAllHistory(port, room, { maxPages = 1000 } = {}) {
  const pages = [];
  let before;
  for (let i = 0; i < maxPages; i++) {
    const r = await getPage(port, room, { before, limit: 200 });
    if (r.status !== 200 || !Array.isArray(r.json?.messages)) {
      throw new Error(`GET history of ${room} before=${before}: ${r.status} ${r.body.slice(0, 300)}`);
    }
    const { messages, has_more: hasMore } = r.json;
    pages.unshift(messages);
    if (!hasMore || messages.length === 0) return pages.flat();
    if (before !== undefined && messages[0].id >= before) throw new Error(`page before=${before} did not go back: ${r.body.slice(0, 300)}`);
    before = messages[0].id;
  }
  throw new Error(`history of ${room}: more than ${maxPages} pages`);
}

// Polls fn() until pred(value) holds or timeoutMs passes; resolves the last value either way
// (the caller's assertion then shows what was seen).
export async function poll(fn, pred, timeoutMs = 5000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (pred(v) || Date.now() > deadline) return v;
    await sleep(everyMs);
  }
}

// [from, from+1, ..., to]
export const range = (from, to) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
