// Browser test of web/index.html as served by the real server: two pages chat in one room.
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
import { startServer, withTimeout, fileTimeout } from '../integration/server.mjs';

fileTimeout(120000);

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

async function openAndJoin(name) {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  // Failed loads are reported from the response (with the URL); the browser's own favicon probe
  // does not count.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(`${name} console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) pageErrors.push(`${name}: HTTP ${r.status()} for ${r.url()}`);
  });
  page.on('requestfailed', (r) => pageErrors.push(`${name}: request failed ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(`${srv.url}/`);
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
