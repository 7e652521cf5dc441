// Helpers of the browser tests: Debian's Chromium driven by playwright-core (installed with the
// integration tests: (cd tests/integration && npm ci)), one browser context per person (its own
// storage, as separate people have), pages that record their errors, and the page's parts found
// by their accessible names (the names screen readers use). Screenshots go to test-artifacts/
// at the repository root (or $PARLEY_ARTIFACTS).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../integration/server.mjs';

const require = createRequire(new URL('../integration/package.json', import.meta.url));
const { chromium } = require('playwright-core');

export const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
export const skip = !existsSync(EXE) && `no Chromium at ${EXE}`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const ARTIFACTS = process.env.PARLEY_ARTIFACTS ||
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-artifacts');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

// Every test password contains this word; no URL the page asks for may.
export const PASSWORD = 'correct horse battery';

export function launch() {
  return withTimeout(chromium.launch({ executablePath: EXE, headless: true, args: ARGS, timeout: 30000 }),
    40000, 'Chromium to start');
}

// A page of `server`'s client in a new context (or `context`: another tab of the same person).
// Errors in it are pushed to `errors`, but for those matching one of `expected`. Counts the
// WebSockets it opens (page.sockets) and records their URLs (page.socketUrls).
export async function openPage(browser, name, {
  server, errors, expected = [], context, viewport = DESKTOP, colorScheme = 'light', hash = '',
} = {}) {
  const ctx = context ?? await browser.newContext({ viewport, colorScheme });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  const note = (what) => { if (!expected.some((re) => re.test(what))) errors.push(`${name}: ${what}`); };
  page.on('pageerror', (e) => note(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) note(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) note(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on('requestfailed', (r) => note(`request failed ${r.url()} ${r.failure()?.errorText}`));
  page.on('request', (r) => { if (/horse/.test(r.url())) errors.push(`${name}: a password in ${r.url()}`); });
  page.sockets = 0;
  page.socketUrls = [];
  page.on('websocket', (w) => {
    page.sockets++;
    page.socketUrls.push(w.url());
    if (/horse/.test(w.url())) errors.push(`${name}: a password in ${w.url()}`);
  });
  await page.goto(`${server.url}/${hash}`);
  return page;
}

export const composer = (page) => page.getByRole('textbox', { name: 'Message', exact: true });
export const statusOf = (page) => page.getByRole('status');
export const roomsNav = (page) => page.getByRole('navigation', { name: 'Rooms' });

export async function waitOpen(page) {
  await page.waitForSelector('#status[data-state="open"]');
}

export async function joinAsGuest(page, name) {
  await page.getByLabel('Guest name (optional)').fill(name);
  await page.getByRole('button', { name: 'Join as guest' }).click();
  await waitOpen(page);
  assert.equal(await statusOf(page).textContent(), `Connected as ${name}.`);
}

// Signs in (button 'Sign in') or registers ('Register') from the sign-in screen.
export async function signInAs(page, name, { password = PASSWORD, button = 'Register', keep = true, wait = true } = {}) {
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Keep me signed in').setChecked(keep);
  await page.getByRole('button', { name: button, exact: true }).click();
  if (wait) await waitOpen(page);
}

export async function say(page, content) {
  await composer(page).fill(content);
  await composer(page).press('Enter');
}

// The confirmed messages the page shows: [{id, user, text, own}].
export function shown(page) {
  return page.$$eval('.messages li.msg[data-id]', (lis) => lis.map((li) => ({
    id: Number(li.dataset.id), user: li.dataset.user, text: li.querySelector('.text').textContent,
    own: li.classList.contains('own'),
  })));
}

// Waits until the page shows at least `n` confirmed messages; returns them.
export async function messages(page, n, timeout = 10000) {
  await page.waitForFunction((k) => document.querySelectorAll('.messages li.msg[data-id]').length >= k, n, { timeout });
  return shown(page);
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// The contrast ratio of every visible text element against the background it is drawn on,
// as WCAG 2 defines it; resolves the ones below `min` ([] when all pass).
export function lowContrast(page, min = 4.5) {
  return page.evaluate((minRatio) => {
    const rgb = (s) => {
      const m = s.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0.5) return c;
      }
      return rgb(getComputedStyle(document.documentElement).backgroundColor) || { r: 255, g: 255, b: 255 };
    };
    const bad = [];
    for (const el of document.querySelectorAll('body *')) {
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own) continue;
      const st = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      if (st.visibility === 'hidden' || box.width < 2 || box.height < 2 || st.clip === 'rect(0px, 0px, 0px, 0px)') continue;
      if (el.closest('button:disabled, [aria-disabled="true"], textarea:disabled, input:disabled')) continue; // exempt
      if (Number(st.opacity) < 1) continue;
      const fg = rgb(st.color);
      const bg = background(el);
      const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      const ratio = (hi + 0.05) / (lo + 0.05);
      if (ratio < minRatio) bad.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
    }
    return bad;
  }, min);
}
