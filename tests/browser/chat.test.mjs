// Browser test of web/index.html as served by the real server: two pages chat in one room;
// signing in (register, log in, a token that expires, a wrong password).
// Uses Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core, which is
// installed with the integration tests: (cd tests/integration && npm ci). Skipped, saying so,
// when there is no Chromium. Run from the repository root:
//   PARLEY_BIN=build/parley node --test tests/browser/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, withTimeout, fileTimeout, request, sleep, metricValue } from '../integration/server.mjs';

fileTimeout(180000);

const require = createRequire(new URL('../integration/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ROOM = 'browser-test';
const LINE = (name, content) => new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\] ${name}: ${content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

let srv;
let context;
let userDataDir;
const pageErrors = [];

before(async () => {
  if (!existsSync(EXE)) return;
  srv = await startServer();
  userDataDir = mkdtempSync(path.join(tmpdir(), 'parley-chromium-'));
  context = await withTimeout(chromium.launchPersistentContext(userDataDir, {
    executablePath: EXE, headless: true, args: ARGS, timeout: 30000,
  }), 40000, 'Chromium to start');
  context.setDefaultTimeout(10000);
});

after(async () => {
  await context?.close().catch(() => {});
  await srv?.stop();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

// Every test password contains this word; no URL the page asks for may.
const PASSWORD = 'correct horse battery';

// A new page showing `server`'s client. Errors in it are pushed to `errors`, but for those
// matching one of `expected`. Counts the WebSockets it opens (page.sockets).
async function openPage(name, { server = srv, errors = pageErrors, expected = [] } = {}) {
  const page = await context.newPage();
  const note = (what) => { if (!expected.some((re) => re.test(what))) errors.push(`${name}: ${what}`); };
  page.on('pageerror', (e) => note(e.message));
  // Failed loads are reported from the response (with the URL); the browser's own favicon probe
  // does not count.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) note(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) note(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on('requestfailed', (r) => note(`request failed ${r.url()} ${r.failure()?.errorText}`));
  page.on('request', (r) => { if (/horse/.test(r.url())) errors.push(`${name}: a password in ${r.url()}`); });
  page.sockets = 0;
  page.on('websocket', (w) => {
    page.sockets++;
    if (/horse/.test(w.url())) errors.push(`${name}: a password in ${w.url()}`);
  });
  await page.goto(`${server.url}/`);
  return page;
}

async function openAndJoin(name, opts) {
  const page = await openPage(name, opts);
  await page.fill('#room', ROOM);
  await page.fill('#user', name);
  await page.click('#join button');
  await page.waitForSelector('#status[data-state="open"]');
  assert.match(await page.textContent('#status'), new RegExp(`${ROOM}.*${name}`));
  return page;
}

async function say(page, content) {
  await page.fill('#text', content);
  await page.press('#text', 'Enter');
}

// Waits until the page shows `n` li.msg items; returns their texts.
async function messages(page, n) {
  await page.waitForFunction((k) => document.querySelectorAll('#log li.msg').length >= k, n);
  return page.$$eval('#log li.msg', (lis) => lis.map((li) => li.textContent));
}

test('two pages chat in one room', { timeout: 90000, skip: !existsSync(EXE) && `no Chromium at ${EXE}` }, async (t) => {
  const alice = await openAndJoin('Alice');
  const bob = await openAndJoin('Bob');

  await say(alice, 'Hello from Alice');
  await messages(bob, 1);
  await say(bob, 'Hi Alice, Bob here');
  for (const page of [alice, bob]) {
    const shown = await messages(page, 2);
    assert.match(shown[0], LINE('Alice', 'Hello from Alice'));
    assert.match(shown[1], LINE('Bob', 'Hi Alice, Bob here'));
  }

  await t.test('markup in a message is shown as text', async () => {
    const evil = '<img src=x onerror="window.__xss=1">';
    await say(alice, evil);
    for (const page of [alice, bob]) {
      const shown = await messages(page, 3);
      assert.match(shown[2], LINE('Alice', evil));
      assert.equal(await page.$$eval('#log img', (x) => x.length), 0, 'an <img> element was created');
      await page.waitForTimeout(300); // give a would-be onerror handler time to run
      assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined', 'the onerror handler ran');
    }
  });

  await t.test('error frames are shown', async () => {
    await say(bob, 'x'.repeat(4001));
    await bob.waitForSelector('#log li.error');
    assert.match(await bob.textContent('#log li.error'), /content_too_long/);
    assert.equal(await alice.$$eval('#log li.error', (x) => x.length), 0, 'Alice saw Bob\'s error');
  });

  await t.test('presence and typing are shown', async () => {
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => /Alice/.test(document.querySelector('#people').textContent)
        && /Bob/.test(document.querySelector('#people').textContent));
    }
    await alice.type('#text', 'typing something');
    await bob.waitForFunction(() => /Alice is typing/.test(document.querySelector('#typing').textContent));
    // (Bob may still show as typing: his last input was refused, so nothing ended it.)
    assert.doesNotMatch(await alice.textContent('#typing'), /Alice/, 'Alice sees herself typing');
    await alice.press('#text', 'Enter');
    await bob.waitForFunction(() => !/Alice/.test(document.querySelector('#typing').textContent));
  });

  await t.test('a page that joins later sees the history', async () => {
    const carol = await openAndJoin('Carol');
    const shown = await messages(carol, 4);
    assert.match(shown[0], LINE('Alice', 'Hello from Alice'));
    assert.match(shown[1], LINE('Bob', 'Hi Alice, Bob here'));
    assert.match(shown[3], LINE('Alice', 'typing something'));
    await alice.waitForFunction(() => /Carol joined/.test(document.querySelector('#log').textContent));
    await carol.close();
    await alice.waitForFunction(() => /Carol left/.test(document.querySelector('#log').textContent));
  });

  await t.test('a server shutdown shows the close code', async () => {
    assert.equal(await srv.stop(), 0);
    for (const page of [alice, bob]) {
      await page.waitForSelector('#status[data-state="closed"]');
      assert.match(await page.textContent('#status'), /disconnected \(1001\b/);
      assert.ok(await page.isVisible('#reconnect'), 'no reconnect button');
      assert.ok(await page.isDisabled('#text'), 'the message input is still enabled');
    }
  });

  if (process.env.PARLEY_SCREENSHOT) await alice.screenshot({ path: process.env.PARLEY_SCREENSHOT });
  assert.deepEqual(pageErrors, [], 'errors in the page');
});

const skip = !existsSync(EXE) && `no Chromium at ${EXE}`;
async function closePages(server) {
  for (const page of context.pages()) if (page.url().startsWith(server.url)) await page.close().catch(() => {});
}
const statusText = (page) => page.textContent('#status');
const stored = (page) => page.evaluate(() => ({ session: sessionStorage.getItem('parley-session'), local: JSON.stringify(localStorage) }));

// A server where every connection needs a token that lasts `ttl` seconds.
const startRequiredServer = (ttl) => startServer({
  args: ['--auth', 'required', '--jwt-secret', 'browser-test-secret-0123456789abcdef', '--token-ttl', String(ttl)],
});

// Fills the join form with `name` and `password` and clicks `button` (#register, #login or the
// Join button); waits for the connection unless `wait` is false.
async function signInAs(page, name, { password = PASSWORD, button = '#register', wait = true } = {}) {
  await page.fill('#room', ROOM);
  await page.fill('#user', name);
  await page.fill('#password', password);
  await page.click(button);
  if (wait) await page.waitForSelector('#status[data-state="open"]');
}

test('a registered user chats under the account name', { timeout: 60000, skip }, async () => {
  const server = await startServer();
  const errors = [];
  try {
    const dora = await openPage('Dora', { server, errors });
    await signInAs(dora, 'Dora');
    assert.match(await statusText(dora), new RegExp(`${ROOM} as Dora \\(signed in\\)`));
    assert.equal(await dora.textContent('#account-name'), 'Dora');
    assert.ok(await dora.isVisible('#logout'), 'no sign-out button');
    assert.equal(await dora.inputValue('#password'), '', 'the password is still in the form');
    const kept = await stored(dora);
    const session = JSON.parse(kept.session);
    assert.equal(session.username, 'Dora');
    assert.match(session.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(session.expiresAt > Date.now());
    assert.doesNotMatch(kept.session + kept.local, /horse/, 'the password was stored');
    assert.doesNotMatch(kept.local, /eyJ/, 'the token is in localStorage');

    const eve = await openAndJoin('Eve', { server, errors }); // anonymous, as before
    await say(dora, 'Hello, signed in');
    assert.match((await messages(eve, 1))[0], LINE('Dora', 'Hello, signed in'));

    // Join with a password filled signs in first; the name's case does not matter, the account's
    // is shown.
    const tab = await openPage('Dora2', { server, errors });
    await signInAs(tab, 'dora', { button: '#join button' });
    assert.match(await statusText(tab), /as Dora \(signed in\)/);
    await say(tab, 'from the second tab');
    assert.match((await messages(eve, 2))[1], LINE('Dora', 'from the second tab'));

    // A reload keeps the session (sessionStorage): Join reuses the token.
    await dora.reload();
    assert.equal(await dora.textContent('#account-name'), 'Dora');
    assert.ok(await dora.isHidden('#password'), 'the password field shows while signed in');
    await dora.click('#join button');
    await dora.waitForSelector('#status[data-state="open"]');
    assert.match(await statusText(dora), /as Dora \(signed in\)/);

    await dora.click('#logout');
    await dora.waitForSelector('#status[data-state="idle"]');
    assert.match(await statusText(dora), /signed out/);
    assert.equal((await stored(dora)).session, null, 'the token is still in sessionStorage');
    assert.ok(await dora.isHidden('#account'), 'still shown as signed in');
    assert.ok(await dora.isVisible('#password'), 'no password field after signing out');
    assert.ok(await dora.isDisabled('#text'), 'the message input is still enabled');
    assert.deepEqual(errors, [], 'errors in the pages');
  } finally {
    await closePages(server);
    await server.stop();
  }
});

test('a server that requires sign-in: refused anonymously, then a token that expires', { timeout: 60000, skip }, async () => {
  const server = await startRequiredServer(3);
  const errors = [];
  try {
    // The refused upgrade (401) shows in the console, and the page's plain GET of the same URL
    // (to learn why) answers 401 auth_required.
    // Renewal is cut off (the refresh request fails): the token runs out, as it would for a
    // tab that slept through its renewal.
    const page = await openPage('Gus', { server, errors, expected: [/\/ws\/browser-test\?username=Gus\b/, /\/api\/refresh/] });
    await page.route('**/api/refresh', (route) => route.abort());
    await page.fill('#room', ROOM);
    await page.fill('#user', 'Gus');
    await page.click('#join button');
    await page.waitForFunction(() => /requires sign-in/.test(document.querySelector('#status').textContent));
    assert.equal(await page.getAttribute('#status', 'data-state'), 'error');
    assert.ok(await page.isDisabled('#text'), 'the message input is enabled');
    assert.ok(await page.isHidden('#reconnect'), 'a reconnect button for a refused join');
    assert.equal((await server.healthz()).connections, 0);

    await page.fill('#password', PASSWORD);
    await page.click('#register');
    await page.waitForSelector('#status[data-state="open"]');
    const openedAt = Date.now();
    assert.match(await statusText(page), /as Gus \(signed in\)/);
    await say(page, 'before the token expires');
    assert.match((await messages(page, 1))[0], LINE('Gus', 'before the token expires'));

    // The token lasts 3 s (2-3 s: its times are whole seconds); the server's sweep (every second
    // here) closes the connection with 4001.
    await page.waitForFunction(() => /session expired, sign in again/.test(document.querySelector('#status').textContent),
      null, { timeout: 10000 });
    const lasted = Date.now() - openedAt;
    assert.ok(lasted < 6000, `closed ${lasted} ms after it opened`);
    if (process.env.PARLEY_TEST_LOG) process.stderr.write(`token connection closed after ${lasted} ms\n`);
    assert.match(await page.textContent('#log'), /disconnected \(4001: token expired\): session expired/);
    assert.equal((await stored(page)).session, null, 'the token is still in sessionStorage');
    assert.ok(await page.isHidden('#account'), 'still shown as signed in');
    assert.ok(await page.isHidden('#reconnect'), 'a reconnect button with a dead token');
    assert.ok(await page.isDisabled('#text'), 'the message input is enabled');
    await sleep(1000); // no reconnect with the dead token
    assert.equal(page.sockets, 2, 'WebSockets opened: the refused one and the signed-in one');
    assert.equal((await server.healthz()).connections, 0);
    assert.match(await statusText(page), /session expired/);
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await closePages(server);
    await server.stop();
  }
});

test('a signed-in page renews its token and stays connected past the first one\'s expiry', { timeout: 60000, skip }, async () => {
  const server = await startRequiredServer(4);
  const errors = [];
  try {
    const page = await openPage('Hal', { server, errors });
    await signInAs(page, 'Hal');
    const first = JSON.parse((await stored(page)).session);
    // Past the first token's expiry and the server's next sweep: renewed, still connected.
    await sleep(Math.max(0, first.expiresAt + 1500 - Date.now()));
    assert.equal(await page.getAttribute('#status', 'data-state'), 'open', await statusText(page));
    const renewed = JSON.parse((await stored(page)).session);
    assert.notEqual(renewed.token, first.token);
    assert.ok(renewed.expiresAt > first.expiresAt, JSON.stringify({ first, renewed }));
    await say(page, 'after the first token');
    assert.match((await messages(page, 1))[0], LINE('Hal', 'after the first token'));
    assert.equal(page.sockets, 1, 'one connection all along');
    assert.equal(metricValue(await server.metrics(), 'parley_disconnects_total', { code: 4001 }), 0);
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await closePages(server);
    await server.stop();
  }
});

test('a wrong password or a taken name shows the server\'s message', { timeout: 60000, skip }, async () => {
  const server = await startServer();
  const errors = [];
  try {
    const r = await request(server.port, '/api/register', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'Ivan', password: PASSWORD }),
    });
    assert.equal(r.status, 201, r.body);
    const page = await openPage('Ivan', {
      server, errors, expected: [/HTTP 401 for .*\/api\/login$/, /HTTP 409 for .*\/api\/register$/],
    });
    await signInAs(page, 'Ivan', { password: 'wrong horse staple', button: '#login', wait: false });
    await page.waitForSelector('#status[data-state="error"]');
    assert.match(await statusText(page), /could not sign in: wrong username or password/);
    assert.ok(await page.isHidden('#account'), 'shown as signed in');
    assert.equal((await stored(page)).session, null);

    await page.fill('#user', 'ivan');
    await page.fill('#password', PASSWORD);
    await page.click('#register');
    await page.waitForFunction(() => /could not register: that name has an account/.test(document.querySelector('#status').textContent));
    assert.equal(page.sockets, 0, 'a WebSocket was opened');
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await closePages(server);
    await server.stop();
  }
});
