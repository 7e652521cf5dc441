// Plain HTTP endpoints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, parseMetrics, metricValue, fileTimeout } from './server.mjs';

fileTimeout(60000);

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

test('GET / serves the chat client, one self-contained page', { timeout: 10000 }, async () => {
  const r = await request(srv.port, '/');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^text\/html/);
  assert.match(r.body, /<div id="root"><\/div>/); // where React renders the client
  assert.match(r.body, /<script type="module">/); // the bundle, inlined
  assert.match(r.body, /<style>/); // the style sheet, inlined
  // It asks the server for nothing else: no script or style sheet by URL.
  assert.doesNotMatch(r.body, /<script[^>]*\ssrc=/);
  assert.doesNotMatch(r.body, /<link[^>]*rel="stylesheet"/);
});

test('GET /healthz', { timeout: 10000 }, async () => {
  const c = await srv.connect('health', 'H');
  await srv.waitHealth((h) => h?.connections === 1 && h?.rooms === 1); // counts may lag the 101 a moment
  const r = await request(srv.port, '/healthz');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  assert.equal(r.json?.status, 'ok', r.body);
  assert.equal(r.json.connections, 1, r.body);
  assert.equal(r.json.rooms, 1, r.body);
  assert.equal(typeof r.json.uptime_seconds, 'number', r.body);
  assert.ok(r.json.uptime_seconds >= 0);
  // The SQLite store: a message is durable in its inbox log at once, and in the database after
  // the maintainer's next ingest (about a second): /healthz counts what still waits.
  assert.equal(r.json.store?.kind, 'sqlite', r.body);
  assert.equal(typeof r.json.store.waiting, 'number', r.body);
  assert.equal(r.json.store.ingest_error, undefined, r.body);
  c.send({ content: 'counted' });
  await c.nextMessage();
  const after = await srv.waitHealth((h) => h?.store?.waiting === 0 && h?.status === 'ok', 5000);
  assert.equal(after?.store?.waiting, 0, JSON.stringify(after));
  assert.equal(after.status, 'ok', JSON.stringify(after));
  const samples = parseMetrics((await request(srv.port, '/metrics')).body);
  assert.equal(metricValue(samples, 'parley_store_waiting_messages'), 0);
  assert.equal(metricValue(samples, 'parley_store_lagging'), 0);
  await c.close();
});

test('GET /metrics is Prometheus text', { timeout: 10000 }, async () => {
  const r = await request(srv.port, '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
  const samples = parseMetrics(r.body);
  assert.ok(samples.length > 0, r.body);
  assert.ok(samples.some((s) => s.name.startsWith('parley_')), r.body);
  assert.ok(samples.every((s) => Number.isFinite(s.value)), 'a sample value is not a number');
  // The upgrade counted by the previous test has been through here without a refusal.
  assert.equal(metricValue(samples, 'parley_rejected_total'), 0, r.body);
});

test('unknown paths → 404 JSON', { timeout: 10000 }, async () => {
  for (const p of ['/nope', '/index.html.bak', '/healthz/x', '/static/app.js']) {
    const r = await request(srv.port, p);
    assert.equal(r.status, 404, `${p}: ${r.status}`);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/, p);
    assert.equal(r.json?.error, 'not_found', `${p}: ${r.body}`);
    assert.equal(typeof r.json?.message, 'string', `${p}: ${r.body}`);
  }
});

test('GET /ws/general without upgrade headers → 426', { timeout: 10000 }, async () => {
  const r = await request(srv.port, '/ws/general?username=Alice');
  assert.equal(r.status, 426, r.body);
  assert.equal(r.json?.error, 'upgrade_required', r.body);
  const s = await srv.metrics();
  assert.ok(metricValue(s, 'parley_rejected_total', { reason: 'upgrade_required' }) >= 1, 'rejection not counted');
});

test('over --max-connections → 503 server_full', { timeout: 20000 }, async () => {
  const small = await startServer({ args: ['--max-connections', '2'] });
  try {
    const a = await small.connect('full', 'A');
    const b = await small.connect('full', 'B');
    const err = await small.connect('full', 'C').then(() => null, (e) => e);
    assert.ok(err, 'a third connection was accepted');
    assert.equal(err.status, 503, err.message);
    assert.equal(err.json?.error, 'server_full', err.body);
    assert.ok(metricValue(await small.metrics(), 'parley_rejected_total', { reason: 'server_full' }) >= 1);
    await a.close();
    // Once a slot is free again, a newcomer gets in (the server may take a moment to notice).
    let c;
    for (let i = 0; i < 50 && !c; i++) {
      c = await small.connect('full', 'C').catch(() => null);
      if (!c) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(c, 'no slot after a client left');
    await Promise.all([b.close(), c.close()]);
  } finally {
    await small.stop();
  }
});
