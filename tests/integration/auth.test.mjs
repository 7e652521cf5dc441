// Accounts and tokens: register and login over HTTP, tokens on the WebSocket upgrade, the
// required mode, expiry (4001), throttling (429), and accounts that outlive a restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, request, metricValue, sleep, fileTimeout } from './server.mjs';
import { upgradeRequest } from './client.mjs';
import { sqliteFactory, postgresFactory, poll } from './postgres.mjs';

fileTimeout(120000);

const SECRET = 'a'.repeat(16) + 'parley-auth-test-secret-0123456789';

// `from`: the client address (any of 127.0.0.0/8): the login policy keys on it.
function post(port, what, body, { timeoutMs = 5000, from } = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return request(port, `/api/${what}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: text,
    timeoutMs,
    localAddress: from,
  });
}

// The throttle has its own test; the others make more attempts than its default allows.
const UNTHROTTLED = ['--login-rate', '100000'];

let srv;
before(async () => { srv = await startServer({ args: ['--jwt-secret', SECRET, ...UNTHROTTLED] }); });
after(async () => { await srv?.stop(); });

test('register, then login with any ASCII case of the name', { timeout: 20000 }, async () => {
  const reg = await post(srv.port, 'register', { username: 'Alice', password: 'correct horse' });
  assert.equal(reg.status, 201, reg.body);
  assert.equal(reg.json.username, 'Alice');
  assert.match(reg.json.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const expires = Date.parse(reg.json.expires_at);
  assert.ok(Math.abs(expires - (Date.now() + 86400e3)) < 60e3, reg.json.expires_at);

  const login = await post(srv.port, 'login', { username: 'alice', password: 'correct horse' });
  assert.equal(login.status, 200, login.body);
  assert.equal(login.json.username, 'Alice', 'the name as registered');
  assert.ok(login.json.token);

  const taken = await post(srv.port, 'register', { username: 'ALICE', password: 'another one' });
  assert.equal(taken.status, 409, taken.body);
  assert.equal(taken.json.error, 'username_taken');

  const wrong = await post(srv.port, 'login', { username: 'Alice', password: 'wrong horse' });
  assert.equal(wrong.status, 401, wrong.body);
  assert.equal(wrong.json.error, 'invalid_credentials');
  const nobody = await post(srv.port, 'login', { username: 'Nobody', password: 'correct horse' });
  assert.equal(nobody.status, 401, nobody.body);
  assert.equal(nobody.json.error, 'invalid_credentials', 'the same answer as a wrong password');
});

test('bad register and login bodies get 400 with a code, and are counted', { timeout: 20000 }, async () => {
  const cases = [
    ['not json', 'invalid_json'],
    [{ username: 'bob' }, 'bad_request'],
    [{ username: 'bob', password: 12345678 }, 'bad_request'],
    [[1, 2], 'bad_request'],
    [{ username: '', password: 'long enough' }, 'invalid_username'],
    [{ username: ' bob', password: 'long enough' }, 'invalid_username'],
    [{ username: 'x'.repeat(33), password: 'long enough' }, 'invalid_username'],
    [{ username: 'Anonymous', password: 'long enough' }, 'invalid_username'],
    [{ username: 'bob', password: 'short' }, 'invalid_password'],
    [{ username: 'bob', password: 'p'.repeat(1025) }, 'invalid_password'],
  ];
  for (const [body, code] of cases) {
    for (const what of ['register', 'login']) {
      const r = await post(srv.port, what, body);
      assert.equal(r.status, 400, `${what} ${JSON.stringify(body)}: ${r.body}`);
      assert.equal(r.json?.error, code, `${what} ${JSON.stringify(body)}: ${r.body}`);
      assert.equal(typeof r.json.message, 'string');
    }
  }
  const get = await request(srv.port, '/api/login');
  assert.equal(get.status, 405, get.body);
  const m = await srv.metrics();
  assert.ok(metricValue(m, 'parley_rejected_total', { reason: 'invalid_password' }) >= 4);
  assert.ok(metricValue(m, 'parley_rejected_total', { reason: 'invalid_json' }) >= 2);
});

test('a token names the WebSocket user; a bad one is refused before the upgrade', { timeout: 20000 }, async () => {
  const reg = await post(srv.port, 'register', { username: 'Carol', password: 'carol password' });
  assert.equal(reg.status, 201, reg.body);
  const token = encodeURIComponent(reg.json.token);

  // ?token= alone: the account's name.
  const c = await srv.connect('auth-room', undefined, { path: `/ws/auth-room?token=${token}` });
  c.send({ content: 'signed in' });
  const m = await c.nextMessage();
  assert.equal(m.username, 'Carol');
  assert.equal(m.content, 'signed in');
  // The same name with the token is fine; another name is not.
  const same = await srv.connect('auth-room', undefined, { path: `/ws/auth-room?username=Carol&token=${token}` });
  await same.close();
  const other = await upgradeRequest(srv.port, `/ws/auth-room?username=Mallory&token=${token}`);
  assert.equal(other.status, 403, other.body);
  assert.equal(other.json.error, 'username_mismatch');
  // Authorization: Bearer works too (for clients that can set headers).
  const bearer = await srv.connect('auth-room', undefined, {
    path: '/ws/auth-room',
    wsOptions: { headers: { Authorization: `Bearer ${reg.json.token}` } },
  });
  bearer.send({ content: 'from the header' });
  assert.equal((await bearer.nextMessage()).username, 'Carol');
  await bearer.close();

  const parts = reg.json.token.split('.');
  const forged = Buffer.from(JSON.stringify({ iss: 'parley', sub: 'Mallory', iat: 1, exp: 4102444800 })).toString('base64url');
  // A signature with its end changed (in bits that count: the last character carries two unused
  // ones). One time in ~1,000 the real one already ends in "AA".
  const tail = parts[2].endsWith('AA') ? 'QA' : 'AA';
  for (const bad of ['', 'garbage', `${parts[0]}.${forged}.${parts[2]}`, `${parts[0]}.${parts[1]}.`,
    `${parts[0]}.${parts[1]}.${parts[2].slice(0, -2)}${tail}`]) {
    const r = await upgradeRequest(srv.port, `/ws/auth-room?token=${encodeURIComponent(bad)}`);
    assert.equal(r.status, 401, `${bad}: ${r.body}`);
    assert.equal(r.json.error, 'invalid_token', `${bad}: ${r.body}`);
  }
  // Open mode: no token is still the original protocol.
  const anon = await srv.connect('auth-room', 'Dave');
  await anon.close();
  await c.close();
  const metrics = await srv.metrics();
  assert.equal(metricValue(metrics, 'parley_rejected_total', { reason: 'invalid_token' }), 5);
  assert.equal(metricValue(metrics, 'parley_rejected_total', { reason: 'username_mismatch' }), 1);
});

test('--auth required: no token, 401; a token past its expiry, 401; a live one closes with 4001 when it expires', { timeout: 30000 }, async () => {
  const strict = await startServer({ args: ['--auth', 'required', '--jwt-secret', SECRET, '--token-ttl', '2', ...UNTHROTTLED] });
  try {
    const none = await upgradeRequest(strict.port, '/ws/r?username=Erin');
    assert.equal(none.status, 401, none.body);
    assert.equal(none.json.error, 'auth_required');
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="parley"');
    const reg = await post(strict.port, 'register', { username: 'Erin', password: 'erin password' });
    assert.equal(reg.status, 201, reg.body);
    const issuedAt = Date.now();
    // Reading rooms, history and members needs a token too.
    for (const what of ['/api/rooms', '/api/rooms/r/messages', '/api/rooms/r/presence']) {
      const anon = await request(strict.port, what);
      assert.equal(anon.status, 401, `${what}: ${anon.body}`);
      assert.equal(anon.json.error, 'auth_required');
      const bearer = await request(strict.port, what, { headers: { Authorization: `Bearer ${reg.json.token}` } });
      assert.equal(bearer.status, 200, `${what}: ${bearer.body}`);
      const query = await request(strict.port, `${what}?token=${encodeURIComponent(reg.json.token)}`);
      assert.equal(query.status, 200, `${what}: ${query.body}`);
      const forged = await request(strict.port, what, { headers: { Authorization: 'Bearer a.b.c' } });
      assert.equal(forged.status, 401, `${what}: ${forged.body}`);
      assert.equal(forged.json.error, 'invalid_token');
    }
    const c = await strict.connect('r', undefined, { path: `/ws/r?token=${encodeURIComponent(reg.json.token)}` });
    c.send({ content: 'before expiry' });
    assert.equal((await c.nextMessage()).username, 'Erin');
    const closed = await c.waitClosed(8000);
    assert.equal(closed.code, 4001, JSON.stringify(closed));
    assert.ok(Date.now() - issuedAt >= 1000, 'closed at expiry, not before');
    const late = await upgradeRequest(strict.port, `/ws/r?token=${encodeURIComponent(reg.json.token)}`);
    assert.equal(late.status, 401, late.body);
    assert.equal(late.json.error, 'token_expired');
    // A token of the first server (same secret, longer lifetime) is good here: servers that share
    // the secret share users.
    const login = await post(srv.port, 'login', { username: 'Alice', password: 'correct horse' });
    const shared = await strict.connect('r', undefined, { path: `/ws/r?token=${encodeURIComponent(login.json.token)}` });
    await shared.close();
    const m = await strict.metrics();
    assert.equal(metricValue(m, 'parley_disconnects_total', { code: 4001 }), 1);
    assert.equal(metricValue(m, 'parley_rejected_total', { reason: 'auth_required' }), 4);
    assert.equal(metricValue(m, 'parley_rejected_total', { reason: 'token_expired' }), 1);
  } finally {
    await strict.stop();
  }
});

test('wrong passwords slow their own address for that name (429, Retry-After); the owner gets in from another', { timeout: 30000 }, async () => {
  const reg = await post(srv.port, 'register', { username: 'Kim', password: 'kim password' });
  assert.equal(reg.status, 201, reg.body);
  const guesser = '127.0.0.2';
  // Five wrong passwords in a row go through; the sixth too, and from then on that address waits
  // for this name: 4 s, doubling with each further wrong one.
  for (let i = 0; i < 6; i++) {
    const r = await post(srv.port, 'login', { username: 'kim', password: `guess number ${i}` }, { from: guesser });
    assert.equal(r.status, 401, r.body);
  }
  const held = await post(srv.port, 'login', { username: 'Kim', password: 'kim password' }, { from: guesser });
  assert.equal(held.status, 429, held.body);
  assert.equal(held.json.error, 'too_many_attempts');
  const wait = Number(held.headers['retry-after']);
  assert.ok(wait >= 1 && wait <= 4, `Retry-After ${held.headers['retry-after']}`);
  // The owner, from an address that has not been failing: in at once, while the guesser waits.
  const owner = await post(srv.port, 'login', { username: 'Kim', password: 'kim password' }, { from: '127.0.0.3' });
  assert.equal(owner.status, 200, owner.body);
  assert.equal(owner.json.username, 'Kim');
  const still = await post(srv.port, 'login', { username: 'kim', password: 'guess again' }, { from: guesser });
  assert.equal(still.status, 429, still.body);
  // The guesser's other names are not held, and the account's tokens are untouched.
  const other = await post(srv.port, 'login', { username: 'Alice', password: 'correct horse' }, { from: guesser });
  assert.equal(other.status, 200, other.body);
  const c = await srv.connect('r', undefined, { path: `/ws/r?token=${encodeURIComponent(reg.json.token)}` });
  await c.close();
});

test('a name without an account is throttled exactly like one with an account: same answers, same waits, same time', { timeout: 30000 }, async () => {
  const reg = await post(srv.port, 'register', { username: 'Lou', password: 'lou password' });
  assert.equal(reg.status, 201, reg.body);
  const seen = { lou: [], 'nobody-at-all': [] };
  for (let i = 0; i < 8; i++) {
    for (const name of Object.keys(seen)) {
      const t0 = performance.now();
      const r = await post(srv.port, 'login', { username: name, password: 'a wrong password' }, { from: '127.0.0.4' });
      seen[name].push({ status: r.status, body: r.body, retryAfter: r.headers['retry-after'], ms: performance.now() - t0 });
    }
  }
  const [known, unknown] = Object.values(seen);
  const answers = (list) => list.map(({ status, body }) => ({ status, body }));
  assert.deepEqual(answers(known), answers(unknown));
  assert.deepEqual(known.map((a) => a.status), [401, 401, 401, 401, 401, 401, 429, 429]);
  assert.equal(JSON.parse(known[6].body).error, 'too_many_attempts');
  // The same wait, counted from each name's own last failure (one hash apart: a loaded machine
  // may round them to neighbouring seconds).
  for (const i of [6, 7]) {
    const [a, b] = [Number(known[i].retryAfter), Number(unknown[i].retryAfter)];
    assert.ok(a >= 3 && a <= 4 && Math.abs(a - b) <= 1, `Retry-After ${a} and ${b}`);
  }
  // Time: every checked one costs a hash (the stand-in for a name without an account); a
  // refused one costs none, for either name.
  const checked = [...known, ...unknown].filter((a) => a.status === 401).map((a) => a.ms);
  const refused = [...known, ...unknown].filter((a) => a.status === 429).map((a) => a.ms);
  assert.ok(Math.max(...refused) < Math.min(...checked), `refused ${refused} checked ${checked}`);
  const mean = (list) => list.filter((a) => a.status === 401).reduce((t, a) => t + a.ms, 0) / 6;
  const ratio = mean(known) / mean(unknown);
  assert.ok(ratio > 0.5 && ratio < 2, `hash time with an account / without: ${ratio}`);
});

test('guesses from many addresses spend a name\'s budget: new addresses wait, the owner\'s address still gets in', { timeout: 30000 }, async () => {
  const t = await startServer({ args: ['--db', 'none', '--login-account-budget', '3', ...UNTHROTTLED] });
  try {
    assert.equal((await post(t.port, 'register', { username: 'Max', password: 'max password' })).status, 201);
    const home = '127.0.0.10';
    assert.equal((await post(t.port, 'login', { username: 'max', password: 'max password' }, { from: home })).status, 200);
    const refusals = {};
    for (const name of ['max', 'ghost']) {
      // Three addresses, one wrong password each: the budget of 3 an hour is spent...
      for (const guesser of ['127.0.0.11', '127.0.0.12', '127.0.0.13']) {
        const r = await post(t.port, 'login', { username: name, password: 'a wrong password' }, { from: guesser });
        assert.equal(r.status, 401, `${name} from ${guesser}: ${r.body}`);
      }
      // ...so an address new to the name waits (a third of an hour for the next guess), with or
      // without an account behind the name, and whatever the password.
      const r = await post(t.port, 'login', { username: name, password: 'max password' }, { from: '127.0.0.14' });
      assert.equal(r.status, 429, `${name}: ${r.body}`);
      refusals[name] = { body: r.body, retryAfter: Number(r.headers['retry-after']) };
    }
    // Up to 20 minutes (a third of an hour) less what the bucket refilled since: the same for
    // both names, to the second or two the hashing took.
    assert.equal(refusals.max.body, refusals.ghost.body);
    for (const { retryAfter } of Object.values(refusals)) assert.ok(retryAfter >= 1195 && retryAfter <= 1200, `Retry-After ${retryAfter}`);
    assert.ok(Math.abs(refusals.max.retryAfter - refusals.ghost.retryAfter) <= 2, JSON.stringify(refusals));
    // The address the owner logged in from is not held by the budget.
    const owner = await post(t.port, 'login', { username: 'Max', password: 'max password' }, { from: home });
    assert.equal(owner.status, 200, owner.body);
    assert.equal(metricValue(await t.metrics(), 'parley_rejected_total', { reason: 'too_many_attempts' }), 2);
  } finally {
    await t.stop();
  }
});

test('a token signed with another secret is refused', { timeout: 20000 }, async () => {
  const other = await startServer({ args: ['--jwt-secret', 'b'.repeat(40), '--db', 'none', ...UNTHROTTLED] });
  try {
    const reg = await post(other.port, 'register', { username: 'Frank', password: 'frank password' });
    assert.equal(reg.status, 201, reg.body);  // --db none: accounts in memory
    assert.equal((await post(other.port, 'login', { username: 'frank', password: 'frank password' })).status, 200);
    const r = await upgradeRequest(srv.port, `/ws/x?token=${encodeURIComponent(reg.json.token)}`);
    assert.equal(r.status, 401, r.body);
    assert.equal(r.json.error, 'invalid_token');
  } finally {
    await other.stop();
  }
});

test('register and login attempts are throttled per address (429, Retry-After)', { timeout: 20000 }, async () => {
  const t = await startServer({ args: ['--login-rate', '3', '--db', 'none'] });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await post(t.port, 'login', { username: 'ghost', password: 'not a password' });
      assert.equal(r.status, 401, r.body);
    }
    const r = await post(t.port, 'login', { username: 'ghost', password: 'not a password' });
    assert.equal(r.status, 429, r.body);
    assert.equal(r.json.error, 'too_many_attempts');
    assert.ok(Number(r.headers['retry-after']) >= 1, JSON.stringify(r.headers));
    const reg = await post(t.port, 'register', { username: 'ghost', password: 'not a password' });
    assert.equal(reg.status, 429, 'register and login share the budget');
    assert.equal(metricValue(await t.metrics(), 'parley_rejected_total', { reason: 'too_many_attempts' }), 2);
  } finally {
    await t.stop();
  }
});

for (const factory of [sqliteFactory(), postgresFactory()]) {
  test(`accounts and tokens outlive a restart (same ${factory.name} database, same secret)`, { timeout: 40000 }, async () => {
    await factory.init();
    try {
      const { args: dbArgs } = await factory.newDb();
      const args = [...dbArgs, '--jwt-secret', SECRET, ...UNTHROTTLED];
      let s = await startServer({ args });
      const reg = await post(s.port, 'register', { username: 'Grace', password: 'grace password' });
      assert.equal(reg.status, 201, reg.body);
      await s.stop();
      s = await startServer({ args });
      try {
        const login = await post(s.port, 'login', { username: 'grace', password: 'grace password' });
        assert.equal(login.status, 200, login.body);
        assert.equal(login.json.username, 'Grace');
        assert.equal((await post(s.port, 'login', { username: 'grace', password: 'not her password' })).status, 401);
        assert.equal((await post(s.port, 'register', { username: 'GRACE', password: 'x'.repeat(8) })).status, 409);
        const c = await s.connect('r', undefined, { path: `/ws/r?token=${encodeURIComponent(reg.json.token)}` });
        await c.close();
        // The name is still kept for its owner.
        assert.equal((await upgradeRequest(s.port, '/ws/r?username=Grace')).status, 403);
        if (factory.pg) {
          // The database down: 503 store_unavailable, and the reason in the log; back up, back
          // in business (the store reconnects).
          await factory.pg.pause();
          const down = await post(s.port, 'login', { username: 'grace', password: 'grace password' });
          assert.equal(down.status, 503, down.body);
          assert.equal(down.json.error, 'store_unavailable');
          // The log line is written before the answer, but the answer's socket and the log's
          // pipe are two streams: the line may be read a moment after the reply.
          await poll(async () => s.output(), (out) => /auth: login failed: /.test(out), 5000);
          assert.match(s.output(), /auth: login failed: /);
          await factory.pg.resume();
          const up = await post(s.port, 'login', { username: 'grace', password: 'grace password' });
          assert.equal(up.status, 200, up.body);
        }
      } finally {
        await s.stop();
      }
    } finally {
      await factory.close();
    }
  });
}

test('the hashing queue is bounded: a burst of logins past it gets 503 auth_busy at once', { timeout: 30000 }, async () => {
  const busy = await startServer({ args: [...UNTHROTTLED, '--db', 'none', '--auth-queue', '2'] });
  try {
    // Two wait for the hasher (~0.1 s each) beside the one it works on; the rest of 12 sent
    // together are turned away at once.
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      post(busy.port, 'login', { username: `u${i}`, password: 'whatever pw' }, { timeoutMs: 15000 })));
    const counts = {};
    for (const r of answers) counts[r.status] = (counts[r.status] ?? 0) + 1;
    assert.deepEqual(Object.keys(counts).sort(), ['401', '503'], JSON.stringify(counts));
    assert.ok(counts[401] >= 2 && counts[401] <= 6, JSON.stringify(counts));
    const refused = answers.find((r) => r.status === 503);
    assert.equal(refused.json.error, 'auth_busy');
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(metricValue(await busy.metrics(), 'parley_rejected_total', { reason: 'auth_busy' }), counts[503]);
  } finally {
    await busy.stop();
  }
});

test('POST /api/refresh: a live token buys a later one for the same account', { timeout: 20000 }, async () => {
  const reg = await post(srv.port, 'register', { username: 'Heidi', password: 'heidi password' });
  assert.equal(reg.status, 201, reg.body);
  await new Promise((r) => setTimeout(r, 1100)); // exp counts whole seconds
  const refresh = (headers) => request(srv.port, '/api/refresh', { method: 'POST', headers });
  const r = await refresh({ Authorization: `Bearer ${reg.json.token}` });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.username, 'Heidi');
  assert.notEqual(r.json.token, reg.json.token);
  assert.ok(Date.parse(r.json.expires_at) > Date.parse(reg.json.expires_at), r.body);
  const none = await refresh({});
  assert.equal(none.status, 401, none.body);
  assert.equal(none.json.error, 'auth_required');
  const bad = await refresh({ Authorization: 'Bearer x.y.z' });
  assert.equal(bad.status, 401, bad.body);
  assert.equal(bad.json.error, 'invalid_token');
  assert.equal((await request(srv.port, '/api/refresh')).status, 405);
  const m = await srv.metrics();
  assert.equal(metricValue(m, 'parley_auth_total', { event: 'renewed' }), 1);
  assert.ok(metricValue(m, 'parley_auth_total', { event: 'registered' }) >= 3);
  assert.ok(metricValue(m, 'parley_auth_total', { event: 'logged_in' }) >= 2);
});

test('{"type":"auth"} with a fresh token keeps a WebSocket past its first token', { timeout: 30000 }, async () => {
  // Tokens count whole seconds: a 4 s token lasts 3-4 s. The renewal comes 0.9 s before the
  // first token's expiry (a later second, so a later expiry), and the sweep that closes an
  // expired connection runs once a second.
  const strict = await startServer({ args: ['--auth', 'required', '--jwt-secret', SECRET, '--token-ttl', '4', ...UNTHROTTLED] });
  const until = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));
  try {
    const reg = await post(strict.port, 'register', { username: 'Ivan', password: 'ivan password' });
    const other = await post(strict.port, 'register', { username: 'Judy', password: 'judy password' });
    const firstExpiry = Date.parse(reg.json.expires_at);
    const c = await strict.connect('r', undefined, { path: `/ws/r?token=${encodeURIComponent(reg.json.token)}` });
    // Refused renewals: an error frame each, and the connection goes on.
    c.send({ type: 'auth', token: other.json.token });
    assert.equal((await c.nextError()).code, 'username_mismatch');
    c.send({ type: 'auth', token: 'not.a.token' });
    assert.equal((await c.nextError()).code, 'invalid_token');
    c.send({ type: 'auth' });
    assert.equal((await c.nextError()).code, 'invalid_message');
    await until(firstExpiry - 900);
    const fresh = await request(strict.port, '/api/refresh', { method: 'POST', headers: { Authorization: `Bearer ${reg.json.token}` } });
    assert.equal(fresh.status, 200, fresh.body);
    const secondExpiry = Date.parse(fresh.json.expires_at);
    assert.ok(secondExpiry - firstExpiry >= 2000, `${reg.json.expires_at} then ${fresh.json.expires_at}`);
    c.send({ type: 'auth', token: fresh.json.token });
    const ack = await c.next((f) => f.type === 'auth');
    assert.equal(ack.username, 'Ivan');
    assert.equal(ack.expires_at, fresh.json.expires_at);
    // Past the first token's expiry and a sweep: still open and chatting.
    await until(firstExpiry + 1300);
    c.send({ content: 'still here' });
    assert.equal((await c.nextMessage()).content, 'still here');
    // Closed with 4001 at the second token's expiry (within a sweep).
    const closed = await c.waitClosed(secondExpiry + 3000 - Date.now());
    assert.equal(closed.code, 4001);
    assert.ok(Date.now() >= secondExpiry - 50, 'not before the renewed expiry');

    // A connection that joined without a token (an open server) cannot take one on.
    const anon = await srv.connect('r', 'Mallory');
    anon.send({ type: 'auth', token: reg.json.token });
    assert.equal((await anon.nextError()).code, 'invalid_message');
    await anon.close();
  } finally {
    await strict.stop();
  }
});

test('--auth open: a registered name is its owner\'s alone, and stays so after a restart', { timeout: 30000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-names-'));
  const args = ['--db', `sqlite:${path.join(dir, 'parley.db')}`, '--jwt-secret', SECRET, ...UNTHROTTLED];
  try {
    let s = await startServer({ args });
    const before = await s.connect('r', 'Oscar'); // not yet registered: anyone's
    await before.close();
    const reg = await post(s.port, 'register', { username: 'Oscar', password: 'oscar password' });
    assert.equal(reg.status, 201, reg.body);
    for (const name of ['Oscar', 'oscar', 'OSCAR']) {
      const r = await upgradeRequest(s.port, `/ws/r?username=${name}`);
      assert.equal(r.status, 403, `${name}: ${r.body}`);
      assert.equal(r.json.error, 'username_reserved');
    }
    const owner = await s.connect('r', undefined, { path: `/ws/r?username=Oscar&token=${encodeURIComponent(reg.json.token)}` });
    await owner.close();
    const other = await s.connect('r', 'Oscar2'); // other names stay free
    await other.close();
    assert.equal(metricValue(await s.metrics(), 'parley_rejected_total', { reason: 'username_reserved' }), 3);
    await s.stop();
    s = await startServer({ args });
    try {
      const r = await upgradeRequest(s.port, '/ws/r?username=oscar');
      assert.equal(r.status, 403, r.body);
      assert.equal(r.json.error, 'username_reserved');
      assert.match(s.output(), /1 registered name\b/);
    } finally {
      await s.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
