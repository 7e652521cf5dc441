// Names that look alike are one name (issue 17, finding 5): invisible and bidirectional control
// characters are refused, names are kept in Unicode NFC, and registering or (with --auth open)
// connecting under a lookalike of a registered name is refused. Accounts registered before the
// rule whose names now look alike both keep working after the upgrade.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, metricValue, fileTimeout } from './server.mjs';
import { upgradeRequest } from './client.mjs';
import { postgresFactory } from './postgres.mjs';

fileTimeout(120000);

const SECRET = 'n'.repeat(16) + 'parley-names-test-secret-0123456789';
const UNTHROTTLED = ['--login-rate', '100000'];

function post(port, what, body) {
  return request(port, `/api/${what}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}
const upgrade = (port, name) => upgradeRequest(port, `/ws/names?username=${encodeURIComponent(name)}`);

let srv;
before(async () => { srv = await startServer({ args: ['--jwt-secret', SECRET, ...UNTHROTTLED] }); });
after(async () => { await srv?.stop(); });

test('lookalikes of a registered name can neither register nor connect as it (--auth open)', { timeout: 30000 }, async () => {
  const reg = await post(srv.port, 'register', { username: 'Carol', password: 'carol password' });
  assert.equal(reg.status, 201, reg.body);
  // [name, what register answers, what a WebSocket without a token gets]
  const cases = [
    ['Carol\u200b', 400, 'invalid_username', 400, 'invalid_username'],  // zero-width space
    ['C\u00adarol', 400, 'invalid_username', 400, 'invalid_username'],  // soft hyphen
    ['\u202eloraC', 400, 'invalid_username', 400, 'invalid_username'],  // right-to-left override
    ['Car\u2060ol', 400, 'invalid_username', 400, 'invalid_username'],  // word joiner
    ['Carol\ufe00', 400, 'invalid_username', 400, 'invalid_username'],  // variation selector
    ['C\u0430rol', 409, 'username_taken', 403, 'username_reserved'],    // Cyrillic а
    ['\u0421arol', 409, 'username_taken', 403, 'username_reserved'],    // Cyrillic С
    ['Car\u03bfl', 409, 'username_taken', 403, 'username_reserved'],    // Greek omicron
    ['\uff23arol', 409, 'username_taken', 403, 'username_reserved'],    // fullwidth C
    ['CAROL', 409, 'username_taken', 403, 'username_reserved'],
    ['Carol', 409, 'username_taken', 403, 'username_reserved'],
  ];
  for (const [name, regStatus, regCode, wsStatus, wsCode] of cases) {
    const what = JSON.stringify(name);
    const r = await post(srv.port, 'register', { username: name, password: 'mallory password' });
    assert.equal(r.status, regStatus, `register ${what}: ${r.body}`);
    assert.equal(r.json.error, regCode, `register ${what}: ${r.body}`);
    const ws = await upgrade(srv.port, name);
    assert.equal(ws.status, wsStatus, `connect ${what}: ${ws.body}`);
    assert.equal(ws.json.error, wsCode, `connect ${what}: ${ws.body}`);
  }
  // The owner, with the token, is Carol; and a lookalike with Carol's token is her too.
  const owner = await srv.connect('names', undefined, { path: `/ws/names?token=${encodeURIComponent(reg.json.token)}` });
  owner.send({ content: 'it is me' });
  assert.equal((await owner.nextMessage()).username, 'Carol');
  await owner.close();
  // A lookalike spelling at login is Carol's account, with Carol's password only.
  const login = await post(srv.port, 'login', { username: '\u0421arol', password: 'carol password' });
  assert.equal(login.status, 200, login.body);
  assert.equal(login.json.username, 'Carol');
  assert.equal((await post(srv.port, 'login', { username: '\u0421arol', password: 'mallory password' })).status, 401);
  // Other names stay free.
  assert.equal((await post(srv.port, 'register', { username: 'Karol', password: 'karol password' })).status, 201);
  const m = await srv.metrics();
  assert.ok(metricValue(m, 'parley_rejected_total', { reason: 'username_reserved' }) >= 6);
});

test('a name is kept in NFC: a decomposed spelling is the composed name', { timeout: 20000 }, async () => {
  const c = await srv.connect('nfc', 'Zoe\u0308');  // e + combining diaeresis
  c.send({ content: 'hello' });
  const m = await c.nextMessage();
  assert.equal(m.username, 'Zo\u00eb');
  await c.close();
  const reg = await post(srv.port, 'register', { username: 'Zoe\u0308', password: 'zoe password' });
  assert.equal(reg.status, 201, reg.body);
  assert.equal(reg.json.username, 'Zo\u00eb');
  assert.equal((await upgrade(srv.port, 'Zo\u00eb')).status, 403);
});

test('emoji keep their joiners and selectors; elsewhere those are refused', { timeout: 20000 }, async () => {
  const dev = '\u{1F469}\u{1F3FD}\u200d\u{1F4BB} Dev';  // woman technologist, medium skin tone
  const c = await srv.connect('emoji', dev);
  c.send({ content: 'hi' });
  assert.equal((await c.nextMessage()).username, dev);
  await c.close();
  const heart = await srv.connect('emoji', '\u2764\ufe0f Ann');
  await heart.close();
  for (const bad of ['Dev\u200d', '\u200dDev', 'Ann\ufe0f']) {
    const r = await upgrade(srv.port, bad);
    assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.body}`);
    assert.equal(r.json.error, 'invalid_username');
  }
});

test('accounts registered before the rule whose names look alike both keep working (PostgreSQL)', { timeout: 60000 }, async () => {
  const factory = postgresFactory();
  await factory.init();
  try {
    const { args: dbArgs, url } = await factory.newDb();
    const db = url.slice(url.lastIndexOf('/') + 1);
    const args = [...dbArgs, '--jwt-secret', SECRET, ...UNTHROTTLED];
    let s = await startServer({ args });
    for (const [username, password] of [['Carol', 'latin password'], ['Dora', 'cyrillic password']]) {
      const r = await post(s.port, 'register', { username, password });
      assert.equal(r.status, 201, r.body);
    }
    await s.stop();
    // Back to the schema before the rule (keys: the name with ASCII letters lowered), where
    // Dora's account becomes Cyrillic "Сarol", beside Latin "Carol": as the old rule allowed.
    await factory.pg.psql(`
      DROP TABLE room_bans, room_members, room_access;
      DROP TABLE account_key_rule;
      ALTER TABLE accounts DROP CONSTRAINT accounts_pkey;
      ALTER TABLE accounts DROP COLUMN key_rank;
      UPDATE accounts SET name_key = 'carol' WHERE username = 'Carol';
      UPDATE accounts SET name_key = '\u0421arol', username = '\u0421arol' WHERE username = 'Dora';
      ALTER TABLE accounts ADD PRIMARY KEY (name_key);
      ALTER TABLE messages DROP COLUMN signed_in, DROP COLUMN deleted, DROP COLUMN edited_ms;
      UPDATE schema_version SET version = 2;`, db);
    s = await startServer({ args });
    try {
      assert.match(s.output(), /1 of 2 accounts changed, 1 share their name's key with an older account/);
      // Each logs in by their own spelling, with their own password.
      const latin = await post(s.port, 'login', { username: 'carol', password: 'latin password' });
      assert.equal(latin.status, 200, latin.body);
      assert.equal(latin.json.username, 'Carol');
      const cyrillic = await post(s.port, 'login', { username: '\u0421arol', password: 'cyrillic password' });
      assert.equal(cyrillic.status, 200, cyrillic.body);
      assert.equal(cyrillic.json.username, '\u0421arol');
      assert.equal((await post(s.port, 'login', { username: 'Carol', password: 'cyrillic password' })).status, 401);
      // Each connects with their token, under their own name.
      for (const [token, name] of [[latin.json.token, 'Carol'], [cyrillic.json.token, '\u0421arol']]) {
        const c = await s.connect('r', undefined, { path: `/ws/r?token=${encodeURIComponent(token)}` });
        c.send({ content: 'still me' });
        assert.equal((await c.nextMessage()).username, name);
        await c.close();
      }
      // Nobody else gets the look: a third spelling is refused, and reserved.
      const third = await post(s.port, 'register', { username: 'C\u0430rol', password: 'third password' });
      assert.equal(third.status, 409, third.body);
      assert.equal((await upgrade(s.port, 'C\u0430rol')).status, 403);
      assert.match(s.output(), /1 registered name\b/);  // one look, two accounts
    } finally {
      await s.stop();
    }
  } finally {
    await factory.close();
  }
});
