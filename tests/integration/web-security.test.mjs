// What a hostile web page can and cannot do (issue 17, findings 2 and 9): a WebSocket from
// another site's page is refused (cross-site WebSocket hijacking), the page is served with a
// Content-Security-Policy that allows only its own inline code, and HTTP answers HEAD and 405
// correctly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, request, metricValue, fileTimeout } from './server.mjs';
import { upgradeRequest } from './client.mjs';

fileTimeout(60000);

const servers = [];
after(async () => { for (const s of servers) await s.stop(); });
async function server(args = []) {
  const s = await startServer({ args: ['--db', 'none', ...args] });
  servers.push(s);
  return s;
}

test('a page from another origin may not open a WebSocket; the own origin and Origin-less clients may', { timeout: 15000 }, async () => {
  const s = await server();
  const host = `127.0.0.1:${s.port}`;
  const foreign = await upgradeRequest(s.port, '/ws/r?username=Eve', { headers: { Origin: 'https://evil.example' } });
  assert.equal(foreign.status, 403, foreign.body);
  assert.equal(foreign.json?.error, 'origin_not_allowed');
  // The same host on another port, or another scheme's lookalike, is another origin.
  assert.equal((await upgradeRequest(s.port, '/ws/r', { headers: { Origin: `http://127.0.0.1:${s.port + 1}` } })).status, 403);
  assert.equal((await upgradeRequest(s.port, '/ws/r', { headers: { Origin: 'null' } })).status, 403);
  assert.equal((await upgradeRequest(s.port, '/ws/r', { headers: { Origin: `http://${host}` } })).status, 101);
  assert.equal((await upgradeRequest(s.port, '/ws/r', { headers: { Origin: `HTTP://${host.toUpperCase()}` } })).status, 101);
  assert.equal((await upgradeRequest(s.port, '/ws/r')).status, 101); // no Origin: not a browser
  const m = await s.metrics();
  assert.equal(metricValue(m, 'parley_rejected_total', { reason: 'origin_not_allowed' }), 3);
});

test('--allowed-origins lists the pages that may connect (behind a proxy the Host differs)', { timeout: 15000 }, async () => {
  const s = await server(['--allowed-origins', 'https://chat.example.com,http://localhost:5173']);
  assert.equal((await upgradeRequest(s.port, '/ws/r', { headers: { Origin: 'https://chat.example.com' } })).status, 101);
  assert.equal((await upgradeRequest(s.port, '/ws/r', { headers: { Origin: 'http://localhost:5173' } })).status, 101);
  // Listing origins replaces the default: the Host-derived one is no longer implied.
  assert.equal((await upgradeRequest(s.port, '/ws/r', { headers: { Origin: `http://127.0.0.1:${s.port}` } })).status, 403);
  assert.equal((await upgradeRequest(s.port, '/ws/r', { headers: { Origin: 'https://chat.example.com.evil.example' } })).status, 403);
  const any = await server(['--allowed-origins', '*']);
  assert.equal((await upgradeRequest(any.port, '/ws/r', { headers: { Origin: 'https://anywhere.example' } })).status, 101);
});

test('the page carries a CSP that allows exactly its own inline script and style, and may not be framed', { timeout: 15000 }, async () => {
  const s = await server();
  const r = await request(s.port, '/');
  assert.equal(r.status, 200);
  const csp = r.headers['content-security-policy'] ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /connect-src 'self'/);
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.equal(r.headers['referrer-policy'], 'no-referrer');
  const hashes = (tag) => [...r.body.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, 'g'))]
    .map((x) => `'sha256-${crypto.createHash('sha256').update(x[1], 'utf8').digest('base64')}'`);
  const scripts = hashes('script');
  assert.ok(scripts.length >= 1, 'the page has its script inline');
  const scriptSrc = csp.match(/script-src ([^;]*)/)[1].trim().split(/\s+/);
  assert.deepEqual(scriptSrc.sort(), scripts.sort());
  const styleSrc = csp.match(/style-src ([^;]*)/)[1].trim().split(/\s+/);
  assert.deepEqual(styleSrc.sort(), hashes('style').sort());
  // Every other answer is nosniff too.
  assert.equal((await request(s.port, '/healthz')).headers['x-content-type-options'], 'nosniff');
});

test('HEAD answers the GET headers with their Content-Length; 405 says what is allowed', { timeout: 15000 }, async () => {
  const s = await server();
  const get = await request(s.port, '/');
  const head = await request(s.port, '/', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], String(Buffer.byteLength(get.body)));
  for (const [path, method, allow] of [['/', 'POST', 'GET, HEAD'], ['/healthz', 'DELETE', 'GET, HEAD'],
    ['/metrics', 'PUT', 'GET, HEAD'], ['/api/rooms', 'PUT', 'GET, POST'], ['/api/rooms/x/messages', 'PUT', 'GET'],
    ['/api/dm/x', 'GET', 'POST'], ['/api/login', 'GET', 'POST']]) {
    const r = await request(s.port, path, { method });
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.allow, allow, `${method} ${path}`);
  }
  // (POST there is the server API's publish: without PARLEY_API_KEY it does not exist, 404.)
  assert.equal((await request(s.port, '/api/rooms/x/messages', { method: 'POST' })).status, 404);
});
