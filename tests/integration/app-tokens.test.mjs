// Tokens from the application's identity provider: a real OpenID provider (npm oidc-provider,
// a certified implementation) runs on loopback in this process and issues RFC 9068 access tokens
// (typ at+jwt) for the client credentials grant, RS256 for one client and ES256 for another.
// Parley fetches the provider's /jwks. Checked: both accepted and named by preferred_username; a
// rotated key picked up without a restart; wrong issuer, wrong audience, expired and `none`
// refused (signed with jose using the provider's own keys, so that only the claim is wrong);
// parley_rooms enforced on every path; the provider's tokens renewed on the socket, not through
// /api/refresh; an https:// key set behind a certificate Parley must trust.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { startServer, request, freePort, metricValue, sleep, fileTimeout } from './server.mjs';
import { upgradeRequest } from './client.mjs';

fileTimeout(40000);

const AUDIENCE = 'urn:parley';
let idpPort, issuer, idpServer, provider, srv;
let keys; // { rs, es, es2 }: {privateKey, jwk (private, with kid)}

async function makeKey(alg, kid) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return { privateKey, jwk, kid, alg };
}

// Which algorithm and claims each client's tokens get.
const CLIENTS = {
  alice: { alg: 'RS256', claims: { preferred_username: 'Alice' } },
  bob: { alg: 'ES256', claims: { preferred_username: 'Bob' } },
  carol: { alg: 'ES256', claims: { preferred_username: 'Carol', parley_rooms: { 'team-a': 'write', news: 'read', 'proj-*': 'write' } } },
};

function makeProvider(jwks) {
  const p = new Provider(issuer, {
    clients: Object.keys(CLIENTS).map((id) => ({
      client_id: id,
      client_secret: `${id}-secret-0123456789`,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    jwks: { keys: jwks },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          scope: 'chat',
          audience: AUDIENCE,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: CLIENTS[client.clientId].alg } },
        }),
      },
    },
    extraTokenClaims: (ctx, token) => CLIENTS[token.clientId]?.claims,
  });
  p.on('server_error', (ctx, err) => process.stderr.write(`oidc-provider: ${err.stack}\n`));
  return p;
}

// An access token from the provider's token endpoint, as any backend would get one.
async function tokenFor(client) {
  const body = new URLSearchParams({ grant_type: 'client_credentials', resource: AUDIENCE, scope: 'chat' }).toString();
  const res = await request(idpPort, '/token', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${client}:${client}-secret-0123456789`).toString('base64')}`,
    },
    body,
  });
  assert.equal(res.status, 200, res.body);
  return res.json.access_token;
}

const header = (token) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());

// A token signed with one of the provider's own keys, with claims of the test's choosing.
function signed(key, claims, { typ = 'at+jwt' } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: issuer, aud: AUDIENCE, sub: 'x', preferred_username: 'Mallory', iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ })
    .sign(key.privateKey);
}

before(async () => {
  keys = { rs: await makeKey('RS256', 'rs-1'), es: await makeKey('ES256', 'es-1'), es2: await makeKey('ES256', 'es-2') };
  idpPort = await freePort();
  issuer = `http://127.0.0.1:${idpPort}`;
  provider = makeProvider([keys.rs.jwk, keys.es.jwk]);
  // The provider behind a switch: rotating its keys is swapping the provider, on the same URL.
  idpServer = http.createServer((req, res) => provider.callback()(req, res));
  await new Promise((r) => idpServer.listen(idpPort, '127.0.0.1', r));
  srv = await startServer({
    args: ['--auth', 'required', '--db', 'none', '--jwks', `${issuer}/jwks`, '--token-issuer', issuer,
      '--token-audience', AUDIENCE, '--jwks-refresh', '600'],
  });
});
after(async () => {
  await srv?.stop();
  await new Promise((r) => (idpServer ? idpServer.close(r) : r()));
});

test('RS256 and ES256 access tokens from the provider are accepted', { timeout: 8000 }, async () => {
  const alice = await tokenFor('alice');
  const bob = await tokenFor('bob');
  assert.deepEqual([header(alice).alg, header(alice).typ], ['RS256', 'at+jwt']);
  assert.deepEqual([header(bob).alg, header(bob).typ], ['ES256', 'at+jwt']);

  const a = await srv.connect('lobby', undefined, { path: `/ws/lobby?token=${alice}` });
  const b = await srv.connect('lobby', undefined, { path: '/ws/lobby', wsOptions: { headers: { Authorization: `Bearer ${bob}` } } });
  a.send({ content: 'hello from the provider' });
  const got = await b.nextMessage();
  assert.equal(got.username, 'Alice');
  assert.equal(got.content, 'hello from the provider');
  // The name must be the token's.
  const mismatch = await upgradeRequest(srv.port, `/ws/lobby?username=Bob&token=${alice}`);
  assert.equal(mismatch.status, 403);
  assert.equal(mismatch.json.error, 'username_mismatch');
  // REST with --auth required.
  const rooms = await request(srv.port, '/api/rooms', { headers: { Authorization: `Bearer ${bob}` } });
  assert.equal(rooms.status, 200, rooms.body);
  // Renewed on the socket with a fresh token from the provider; /api/refresh does not mint one.
  a.send({ type: 'auth', token: await tokenFor('alice') });
  const renewed = await a.next((f) => f.type === 'auth');
  assert.equal(renewed.username, 'Alice');
  const refresh = await request(srv.port, '/api/refresh', { method: 'POST', headers: { Authorization: `Bearer ${alice}` } });
  assert.equal(refresh.status, 403, refresh.body);
  assert.equal(refresh.json.error, 'token_not_renewable');
  await a.close();
  await b.close();
});

test('wrong issuer, wrong audience, expired, not yet valid, none and HS256 are refused', { timeout: 8000 }, async () => {
  const now = Math.floor(Date.now() / 1000);
  const good = await signed(keys.es, {});
  assert.equal((await upgradeRequest(srv.port, `/ws/lobby?token=${good}`)).status, 101, 'the control: right claims pass');
  const cases = [
    ['wrong issuer', await signed(keys.es, { iss: 'http://127.0.0.1:1' }), 'invalid_token'],
    ['wrong audience', await signed(keys.rs, { aud: 'urn:other' }), 'invalid_token'],
    ['expired', await signed(keys.es, { iat: now - 600, exp: now - 120 }), 'token_expired'],
    ['not yet valid', await signed(keys.rs, { nbf: now + 300 }), 'invalid_token'],
    ['logout token type', await signed(keys.es, {}, { typ: 'logout+jwt' }), 'invalid_token'],
    ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'es-1' })).toString('base64url')}.${good.split('.')[1]}.`, 'invalid_token'],
    ['HS256 keyed with the public key', await new SignJWT({ iss: issuer, aud: AUDIENCE, sub: 'x', exp: now + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 'rs-1' })
      .sign(new TextEncoder().encode(JSON.stringify({ kty: 'RSA', n: keys.rs.jwk.n, e: keys.rs.jwk.e }))), 'invalid_token'],
  ];
  for (const [what, token, code] of cases) {
    const ws = await upgradeRequest(srv.port, `/ws/lobby?token=${token}`);
    assert.equal(ws.status, 401, what);
    assert.equal(ws.json.error, code, what);
    const rest = await request(srv.port, '/api/rooms/lobby/messages', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(rest.status, 401, what);
    assert.equal(rest.json.error, code, what);
  }
});

test('parley_rooms: only those rooms, read-only where it says read, on every path', { timeout: 8000 }, async () => {
  const carol = await tokenFor('carol');
  const before = metricValue(await srv.metrics(), 'parley_rejected_total', { reason: 'room_not_granted' });
  // /ws/{room}
  const denied = await upgradeRequest(srv.port, `/ws/secret?token=${carol}`);
  assert.equal(denied.status, 403);
  assert.equal(denied.json.error, 'room_not_granted');
  const news = await srv.connect('news', undefined, { path: `/ws/news?token=${carol}` });
  news.send({ content: 'may I?', client_id: 'c1' });
  const refused = await news.nextError();
  assert.deepEqual([refused.code, refused.client_id], ['read_only', 'c1']);
  const team = await srv.connect('team-a', undefined, { path: `/ws/team-a?token=${carol}` });
  team.send({ content: 'writing in team-a' });
  assert.equal((await team.nextMessage()).content, 'writing in team-a');

  // /ws subscribe: a prefix grant, a read grant, a room outside.
  const multi = await srv.connect(undefined, undefined, { path: `/ws?token=${carol}`, keepEvents: true });
  multi.send({ type: 'subscribe', room: 'secret' });
  const sub = await multi.nextError();
  assert.deepEqual([sub.code, sub.room], ['room_not_granted', 'secret']);
  multi.send({ type: 'subscribe', room: 'proj-x' });
  await multi.next((f) => f.type === 'presence' && f.room === 'proj-x');
  multi.send({ type: 'subscribe', room: 'news' });
  await multi.next((f) => f.type === 'presence' && f.room === 'news');
  multi.send({ type: 'message', room: 'news', content: 'no' });
  assert.equal((await multi.nextError()).code, 'read_only');
  multi.send({ type: 'message', room: 'proj-x', content: 'yes' });
  assert.equal((await multi.nextMessage()).room, 'proj-x');

  // REST: history and presence of a room outside are refused; the list shows only granted rooms.
  const alice = await tokenFor('alice');
  const outsider = await srv.connect('secret', undefined, { path: `/ws/secret?token=${alice}` });
  for (const p of ['/api/rooms/secret/messages', '/api/rooms/secret/presence']) {
    const r = await request(srv.port, p, { headers: { Authorization: `Bearer ${carol}` } });
    assert.equal(r.status, 403, p);
    assert.equal(r.json.error, 'room_not_granted', p);
  }
  const history = await request(srv.port, '/api/rooms/news/messages', { headers: { Authorization: `Bearer ${carol}` } });
  assert.equal(history.status, 200, history.body);
  const list = await request(srv.port, '/api/rooms', { headers: { Authorization: `Bearer ${carol}` } });
  const names = list.json.rooms.map((r) => r.room);
  assert.ok(names.includes('team-a') && !names.includes('secret') && !names.includes('lobby'), names.join());
  const all = await request(srv.port, '/api/rooms', { headers: { Authorization: `Bearer ${alice}` } });
  assert.ok(all.json.rooms.some((r) => r.room === 'secret'), 'an unlimited token sees every room');

  // A renewal may not drop a room the connection is in; it may change read to write.
  team.send({ type: 'auth', token: await signed(keys.rs, { preferred_username: 'Carol', parley_rooms: { news: 'write' } }) });
  const dropped = await team.nextError();
  assert.equal(dropped.code, 'room_not_granted');
  team.send({ content: 'still writing: the old token holds' });
  assert.equal((await team.nextMessage()).content, 'still writing: the old token holds');
  news.send({ type: 'auth', token: await signed(keys.rs, { preferred_username: 'Carol', parley_rooms: { news: 'write' } }) });
  assert.equal((await news.next((f) => f.type === 'auth')).username, 'Carol');
  news.send({ content: 'now I may' });
  assert.equal((await news.nextMessage()).content, 'now I may');
  assert.equal(metricValue(await srv.metrics(), 'parley_rejected_total', { reason: 'room_not_granted' }) - before, 5);
  for (const c of [news, team, multi, outsider]) await c.close();
});

test('a rotated key is picked up without a restart; the removed one is refused', { timeout: 10000 }, async () => {
  const old = await tokenFor('bob');
  assert.equal(header(old).kid, 'es-1');
  // The provider now signs ES256 with es-2 only.
  provider = makeProvider([keys.rs.jwk, keys.es2.jwk]);
  const fresh = await tokenFor('bob');
  assert.equal(header(fresh).kid, 'es-2');
  // The first sight of es-2 sends Parley to fetch the keys again (at most every 5 s; the last
  // fetch was at start-up, more than 5 s ago only if the tests above were slow): refused until
  // the keys are in, then accepted.
  const started = Date.now();
  let status = 0;
  let attempts = 0;
  while (Date.now() - started < 7000) {
    attempts++;
    status = (await upgradeRequest(srv.port, `/ws/lobby?token=${fresh}`)).status;
    if (status === 101) break;
    await sleep(100);
  }
  assert.equal(status, 101, `es-2 never accepted (${attempts} attempts)`);
  assert.ok(attempts >= 2, 'the first sight of an unknown kid is refused: the keys are fetched after');
  const refused = await upgradeRequest(srv.port, `/ws/lobby?token=${old}`);
  assert.equal(refused.status, 401, 'es-1 left the set: its tokens are refused now');
  assert.equal(refused.json.error, 'invalid_token');
});

test('an https:// key set: the certificate checked against the CA file', { timeout: 10000 }, async () => {
  // A self-signed certificate for 127.0.0.1, made now; Parley trusts it only through
  // SSL_CERT_FILE (OpenSSL's default verify paths).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-jwks-tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1',
    '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const publicJwk = ({ d, ...pub }) => pub;
  const jwks = JSON.stringify({ keys: [publicJwk(keys.es2.jwk)] });
  const tlsServer = https.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) },
    (req, res) => { res.setHeader('Content-Type', 'application/json'); res.end(jwks); });
  const port = await freePort();
  await new Promise((r) => tlsServer.listen(port, '127.0.0.1', r));
  const args = ['--auth', 'required', '--db', 'none', '--jwks', `https://127.0.0.1:${port}/jwks`,
    '--token-issuer', issuer, '--token-audience', AUDIENCE];
  const token = await signed(keys.es2, { preferred_username: 'Dana' });
  const trusting = await startServer({ args, env: { SSL_CERT_FILE: certFile } });
  const untrusting = await startServer({ args, env: { SSL_CERT_FILE: path.join(dir, 'none.pem') } });
  try {
    assert.equal((await upgradeRequest(trusting.port, `/ws/lobby?token=${token}`)).status, 101);
    const refused = await upgradeRequest(untrusting.port, `/ws/lobby?token=${token}`);
    assert.equal(refused.status, 401, 'a certificate nobody vouches for yields no keys');
    assert.equal(refused.json.error, 'invalid_token');
  } finally {
    await trusting.stop();
    await untrusting.stop();
    await new Promise((r) => tlsServer.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
