// Test harness: starts the real Parley binary and talks HTTP to it.
//
// How to run (from the repository root; CTest does the same with PARLEY_BIN set):
//
//   (cd tests/integration && npm ci)                       # once: installs ws and playwright-core
//   PARLEY_BIN=build/parley node --test --test-concurrency=1 tests/integration/ tests/browser/
//
// or, from this folder, `PARLEY_BIN=../../build/parley npm test` (PARLEY_BIN is resolved against
// the current directory). The whole run takes about a minute; tests/browser/ is skipped when
// there is no Chromium.
//
// One test file at a time (--test-concurrency=1): the fan-out test opens 1,000 sockets and the
// timing tests (keep-alive, shutdown) must not compete for the 2 CPUs. Each file starts its own
// server(s) on free ports, so files never share state. Set PARLEY_TEST_LOG=1 to echo the server's
// output to stderr.

import { spawn } from 'node:child_process';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { connect } from './client.mjs';

const live = new Set(); // every child still running, killed if the test process dies first
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// Overall limit for one test file (each file runs in its own process under `node --test`): past
// it, every server still running is killed and the file fails, whatever hook or test is stuck.
export function fileTimeout(ms, name = process.argv[1]) {
  setTimeout(() => {
    process.stderr.write(`${name}: the whole file took longer than ${ms} ms; giving up\n`);
    process.exitCode = 1;
    process.exit(1); // the 'exit' handler above SIGKILLs the servers
  }, ms).unref();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Rejects with `what` after `ms` unless `promise` settles first.
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// A port nobody listens on right now (the kernel picks it; the tiny race before the server binds
// it is acceptable on a test machine).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Plain HTTP request (no keep-alive). Resolves {status, headers, body, json} (json: parsed body or
// undefined). Never hangs: rejects after timeoutMs. `localAddress`: the client's address, any of
// 127.0.0.0/8 (the server sees a different client address for each).
export function request(port, urlPath, { method = 'GET', headers = {}, body, timeoutMs = 5000, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method, headers, agent: false, timeout: timeoutMs, localAddress },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try { json = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, body: text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${urlPath}`)));
    req.on('error', reject);
    req.end(body);
  });
}

// Parses the Prometheus text format into [{name, labels, value}].
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?\s*$/);
    if (!m) continue;
    const labels = {};
    if (m[2]) {
      for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

// Sum of the samples named `name` whose labels include `labels` (0 when there is none).
export function metricValue(samples, name, labels = {}) {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === String(v))) sum += s.value;
  }
  return sum;
}

// Starts PARLEY_BIN on a free port (or `port`, to restart a server where its clients expect it)
// and waits until GET /healthz answers 200.
// Resolves {port, url, wsUrl, proc, stop(), metrics(), healthz(), connect(), output()}.
//   stop(timeoutMs = 5000): SIGTERM, wait for exit, SIGKILL after timeoutMs; resolves the exit
//     code (a number), or the signal name (e.g. 'SIGKILL') if the process died of a signal.
//   exited: promise of the same value, settled whenever the process ends.
// `nofile`: run the server with that open-file limit (soft and hard), through prlimit(1).
// `port`: listen there (a restarted server where its clients expect it) instead of a free one.
export async function startServer({ args = [], readyTimeoutMs = 10000, env = {}, nofile, port: fixedPort } = {}) {
  const bin = process.env.PARLEY_BIN;
  if (!bin) throw new Error('PARLEY_BIN is not set: point it at the parley binary (e.g. build/parley)');
  const port = fixedPort ?? await freePort();
  // Each server gets its own fresh SQLite store (the default kind) unless the test names one.
  let dataDir = null;
  const storeArgs = [];
  if (!args.includes('--db')) {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-test-'));
    storeArgs.push('--db', `sqlite:${path.join(dataDir, 'parley.db')}`);
  }
  // Load tests send faster than the per-connection message limit allows; the limit has its own
  // test (rate-limit.test.mjs), which passes --max-message-rate itself.
  const rateArgs = args.includes('--max-message-rate') ? [] : ['--max-message-rate', '0'];
  // The limits across connections too (per user, per address: every test client shares 127.0.0.1),
  // unless a test sets them itself.
  for (const flag of ['--max-user-message-rate', '--max-address-message-rate'])
    if (!args.includes(flag)) rateArgs.push(flag, '0');
  const threadArgs = args.includes('--threads') ? [] : ['--threads', '2'];
  const argv = ['--host', '127.0.0.1', '--port', String(port), ...threadArgs, ...storeArgs, ...rateArgs, ...args];
  const command = nofile ? 'prlimit' : path.resolve(bin);
  const commandArgs = nofile ? [`--nofile=${nofile}:${nofile}`, '--', path.resolve(bin), ...argv] : argv;
  const proc = spawn(command, commandArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  live.add(proc);

  let log = '';
  const keep = (chunk) => {
    const s = chunk.toString();
    if (process.env.PARLEY_TEST_LOG) process.stderr.write(s);
    log = (log + s).slice(-64 * 1024); // the last 64 KiB is enough to explain a failure
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);

  let exitValue;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      exitValue = code ?? signal;
      resolve(exitValue);
    });
    proc.on('error', (err) => {
      live.delete(proc);
      exitValue = `spawn error: ${err.message}`;
      resolve(exitValue);
    });
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exitValue !== undefined) {
      throw new Error(`${bin} ${argv.join(' ')} exited (${exitValue}) before /healthz answered.\n${log}`);
    }
    try {
      const r = await request(port, '/healthz', { timeoutMs: 1000 });
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${bin} ${argv.join(' ')}: /healthz did not answer 200 within ${readyTimeoutMs} ms.\n${log}`);
    }
    await sleep(50);
  }

  async function stop(timeoutMs = 5000) {
    if (exitValue === undefined) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    }
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    return exitValue;
  }

  return {
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    proc,
    exited,
    stop,
    output: () => log,
    async metrics() {
      const r = await request(port, '/metrics');
      if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}`);
      return parseMetrics(r.body);
    },
    async healthz() {
      return (await request(port, '/healthz')).json;
    },
    // Polls /healthz until pred(json) holds (its counts may lag a moment behind the sockets);
    // resolves the last answer either way, so the caller's assertion shows what was seen.
    async waitHealth(pred, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const h = (await request(port, '/healthz')).json;
        if (pred(h) || Date.now() > deadline) return h;
        await sleep(20);
      }
    },
    connect: (room, username, opts) => connect(port, room, username, opts),
  };
}
