// Browser tests of the chat as the real server serves it (web/, React): people chatting on one
// WebSocket for many rooms, rooms and unread counts, paging back through a long history,
// reconnecting after the server is killed and restarted, a refused message kept and retried,
// dark mode and contrast, and a phone-sized page with 200 people. Screenshots at desktop, phone
// and dark sizes go to test-artifacts/. Skipped, saying so, when there is no Chromium.
// Run from the repository root:  PARLEY_BIN=build/parley node --test tests/browser/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, fileTimeout, request, sleep } from '../integration/server.mjs';
import { connectMany } from '../integration/client.mjs';
import {
  DESKTOP, PHONE, composer, joinAsGuest, launch, lowContrast, messages, openPage, roomsNav, say,
  screenshot, shown, skip, statusOf, waitOpen,
} from './browser.mjs';

fileTimeout(420000);

let browser;
before(async () => {
  if (!skip) browser = await launch();
});
after(async () => {
  await browser?.close().catch(() => {});
});

// Sends `contents` into `room` from a Node client and waits for their echoes.
async function post(server, room, name, contents) {
  const c = await server.connect(room, name);
  for (const content of contents) c.send({ content });
  await c.take(contents.length, (f) => f.type === 'message' && f.username === name, 20000, `${contents.length} echoes`);
  await c.close();
}

test('people chat in one room: text only, own lines by client_id, presence, typing, joins', { timeout: 90000, skip }, async (t) => {
  const server = await startServer();
  const errors = [];
  try {
    const alice = await openPage(browser, 'Alice', { server, errors, hash: '#lobby' });
    await joinAsGuest(alice, 'Alice');
    const bob = await openPage(browser, 'Bob', { server, errors, hash: '#lobby' });
    await joinAsGuest(bob, 'Bob');
    assert.equal(await alice.getByRole('heading', { name: '#lobby' }).count(), 1);

    await say(alice, 'Hello from Alice');
    await messages(bob, 1);
    await say(bob, 'Hi Alice, Bob here');
    for (const page of [alice, bob]) {
      const got = await messages(page, 2);
      assert.deepEqual(got.map((m) => [m.id, m.user, m.text]), [[1, 'Alice', 'Hello from Alice'], [2, 'Bob', 'Hi Alice, Bob here']]);
      assert.deepEqual(got.map((m) => m.own), page === alice ? [true, false] : [false, true]);
    }

    await t.test('markup in a message is shown as text; http(s) links are clickable', async () => {
      const evil = '<img src=x onerror="window.__xss=1"> see https://example.com/docs.';
      await say(alice, evil);
      for (const page of [alice, bob]) {
        const got = await messages(page, 3);
        assert.equal(got[2].text, evil);
        assert.equal(await page.$$eval('.messages img', (x) => x.length), 0, 'an <img> element was created');
        await page.waitForTimeout(300); // give a would-be onerror handler time to run
        assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined', 'the onerror handler ran');
        assert.deepEqual(await page.$$eval('.messages a', (as) => as.map((a) => a.getAttribute('href'))), ['https://example.com/docs']);
      }
    });

    await t.test('two guests of the same name each see only their own lines as their own', async () => {
      const sam1 = await openPage(browser, 'Sam1', { server, errors, hash: '#same-name' });
      await joinAsGuest(sam1, 'Sam');
      const sam2 = await openPage(browser, 'Sam2', { server, errors, hash: '#same-name' });
      await joinAsGuest(sam2, 'Sam');
      await say(sam1, 'from the first Sam');
      await messages(sam2, 1);
      await say(sam2, 'from the second Sam');
      for (const [page, mine] of [[sam1, [true, false]], [sam2, [false, true]]]) {
        const got = await messages(page, 2);
        assert.deepEqual(got.map((m) => m.own), mine);
      }
      await sam1.context().close();
      await sam2.context().close();
    });

    await t.test('presence, typing, and joins and leaves folded into one line', async () => {
      const people = bob.getByRole('list', { name: 'People' });
      await people.getByText('Alice').waitFor();
      assert.deepEqual(await people.getByRole('listitem').allTextContents(), ['Alice', 'Bob (you)']);
      await composer(alice).pressSequentially('typing something');
      await bob.getByText('Alice is typing…').waitFor();
      assert.equal(await alice.getByText('Alice is typing…').count(), 0, 'Alice sees herself typing');
      await composer(alice).press('Enter');
      await bob.getByText('Alice is typing…').waitFor({ state: 'detached' });

      const carol = await openPage(browser, 'Carol', { server, errors, hash: '#lobby' });
      await joinAsGuest(carol, 'Carol');
      const got = await messages(carol, 4);
      assert.deepEqual(got.map((m) => m.id), [1, 2, 3, 4], 'a page that joins later sees the history');
      const dave = await openPage(browser, 'Dave', { server, errors, hash: '#lobby' });
      await joinAsGuest(dave, 'Dave');
      await alice.getByText('Carol and Dave joined').waitFor();
      await carol.context().close();
      // Came and went within one line: the line says the latest.
      await alice.getByText('Dave joined; Carol left').waitFor();
      assert.equal(await alice.locator('.notice', { hasText: /Carol|Dave/ }).count(), 1, 'one line for the joins and the leave');
      await dave.context().close();
    });

    await t.test('the composer: Shift+Enter breaks the line, the counter counts, keyboard only', async () => {
      await composer(bob).focus();
      await bob.keyboard.type('first line');
      await bob.keyboard.press('Shift+Enter');
      await bob.keyboard.type('second line');
      assert.equal(await bob.getByText('22 / 4000').count(), 1);
      await bob.keyboard.press('Enter');
      const got = await messages(alice, 5);
      assert.equal(got[4].text, 'first line\nsecond line');
      // Tab reaches the Send button from the composer.
      await composer(bob).fill('by keyboard');
      await bob.keyboard.press('Tab');
      assert.equal(await bob.evaluate(() => document.activeElement.textContent), 'Send');
      await bob.keyboard.press('Enter');
      assert.equal((await messages(alice, 6))[5].text, 'by keyboard');
    });

    await screenshot(alice, 'desktop-chat');
    assert.deepEqual(errors, [], 'errors in the pages');
  } finally {
    await server.stop();
  }
});

test('rooms: one connection, sidebar with counts, deep links, unread counts live and after a reload', { timeout: 90000, skip }, async () => {
  const server = await startServer();
  const errors = [];
  try {
    await post(server, 'elsewhere', 'Zed', ['a room this page has not joined']);
    const una = await openPage(browser, 'Una', { server, errors, hash: '#room-a' });
    await joinAsGuest(una, 'Una');
    const nav = roomsNav(una);
    // Join a second room by name: the page subscribes on the same WebSocket.
    await nav.getByLabel('Join or create a room').fill('room-b');
    await nav.getByRole('button', { name: 'Join' }).click();
    await una.getByRole('heading', { name: '#room-b' }).waitFor();
    assert.match(una.url(), /#room-b$/);
    await nav.getByRole('link', { name: /#elsewhere/ }).waitFor(); // from /api/rooms
    assert.equal(una.sockets, 1, 'one WebSocket for both rooms');
    assert.match(una.socketUrls[0], /\/ws\?username=Una$/);

    // Others speak in room-a while Una reads room-b.
    await post(server, 'room-a', 'Vic', ['one', 'two', 'three']);
    const roomA = nav.getByRole('link', { name: /#room-a/ });
    await una.waitForFunction(() => document.title === '(3) #room-b · Parley');
    assert.match(await roomA.textContent(), /3 unread/);
    await una.waitForFunction(() => / 1 here/.test(document.querySelector('#rooms a[data-room="room-a"]').textContent));

    // A reload remembers the rooms, the room open and the counts.
    await una.reload();
    await waitOpen(una);
    await una.getByRole('heading', { name: '#room-b' }).waitFor();
    assert.equal(una.sockets, 2);
    await una.waitForFunction(() => document.title === '(3) #room-b · Parley');
    await post(server, 'room-a', 'Vic', ['four']);
    await una.waitForFunction(() => document.title === '(4) #room-b · Parley');

    // Opening room-a reads it: the divider sits before the first unread message.
    await roomA.click();
    await una.getByRole('heading', { name: '#room-a' }).waitFor();
    await una.waitForFunction(() => document.title === '#room-a · Parley');
    const rows = await una.$$eval('.messages > li', (lis) => lis.map((li) => li.className.split(' ')[0] + (li.dataset.id ? li.dataset.id : '')));
    assert.deepEqual(rows.filter((r) => r !== 'day' && r !== 'notice'), ['divider', 'msg1', 'msg2', 'msg3', 'msg4']);
    assert.doesNotMatch(await roomA.textContent(), /unread/);

    // A deep link in a new tab opens that room.
    const tab = await openPage(browser, 'Una2', { server, errors, context: una.context(), hash: '#room-b' });
    await waitOpen(tab);
    await tab.getByRole('heading', { name: '#room-b' }).waitFor();
    await tab.close();
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await server.stop();
  }
});

test('paging back to message 1 of a 500-message room keeps the reader\'s place', { timeout: 120000, skip }, async () => {
  const server = await startServer();
  const errors = [];
  try {
    await post(server, 'long', 'Writer', Array.from({ length: 500 }, (_, i) => `message ${i + 1}`));
    const page = await openPage(browser, 'Reader', { server, errors, hash: '#long' });
    await joinAsGuest(page, 'Reader');
    let got = await messages(page, 50);
    assert.equal(got.at(-1).text, 'message 500');
    assert.ok(await page.getByRole('button', { name: 'Load older messages' }).isVisible());
    const scroller = page.locator('.log-scroller');
    for (let round = 0; round < 20 && !(await page.getByText('This is the beginning of #long.').count()); round++) {
      const first = got[0].id;
      // Scrolled to the top: the previous page is asked for. Where the first message is then...
      const at = await scroller.evaluate((el, id) => {
        el.scrollTop = 0;
        return document.querySelector(`.msg[data-id="${id}"] .text`).getBoundingClientRect().top;
      }, first);
      await page.waitForFunction((id) => Number(document.querySelector('.msg[data-id]').dataset.id) < id, first);
      got = await shown(page);
      // ...is where it stays once the older messages are in above it.
      const now = await page.locator(`.msg[data-id="${first}"] .text`).evaluate((el) => el.getBoundingClientRect().top);
      assert.ok(Math.abs(now - at) < 2, `message ${first} moved from ${at} to ${now} px`);
      assert.ok(await scroller.evaluate((el) => el.scrollTop) > 0);
    }
    got = await shown(page);
    assert.deepEqual(got.map((m) => m.id), Array.from({ length: 500 }, (_, i) => i + 1), 'each message once, in order');
    assert.equal(got[0].text, 'message 1');
    // Scrolled up: "Jump to latest" takes the reader down again.
    await page.getByRole('button', { name: /^Jump to latest/ }).click();
    await page.waitForFunction(() => {
      const el = document.querySelector('.log-scroller');
      return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    });
    await page.getByRole('button', { name: /^Jump to latest/ }).waitFor({ state: 'detached' });
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await server.stop();
  }
});

test('a server killed and restarted: the page reconnects by itself, nothing missing, nothing twice', { timeout: 90000, skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-restart-'));
  const args = ['--db', `sqlite:${path.join(dir, 'parley.db')}`];
  let server = await startServer({ args });
  const port = server.port;
  const errors = [];
  // While the server is down the page's reconnects fail, and so may a room-list request.
  const expected = [/WebSocket connection to .* failed/, /request failed .*\/api\/rooms/, /request failed .*\/ws\?/];
  try {
    const page = await openPage(browser, 'Rita', { server, errors, expected, hash: '#restart' });
    await joinAsGuest(page, 'Rita');
    await post(server, 'restart', 'Sid', ['before 1', 'before 2']);
    await messages(page, 2);

    server.proc.kill('SIGKILL');
    await server.exited;
    await page.waitForSelector('#status[data-state="reconnecting"], #status[data-state="offline"]');
    const words = await statusOf(page).textContent();
    assert.match(words, /Reconnecting/);
    assert.doesNotMatch(words, /\b100\d\b/, 'a close code in the status');
    assert.ok(await composer(page).isEnabled(), 'the composer is disabled while reconnecting');
    await say(page, 'written while the server was down');
    await page.getByText('Waiting for the connection…').waitFor();

    // The browser goes offline: the page waits for the network instead of counting down.
    await page.context().setOffline(true);
    await page.waitForSelector('#status[data-state="offline"]');
    server = await startServer({ args, port });
    await post(server, 'restart', 'Sid', ['meanwhile 1', 'meanwhile 2', 'meanwhile 3']);
    const sockets = page.sockets;
    await page.context().setOffline(false); // 'online': reconnect at once
    await waitOpen(page);
    assert.ok(page.sockets > sockets);
    const got = await messages(page, 6);
    await page.getByText('Waiting for the connection…').waitFor({ state: 'detached' });
    await sleep(300);
    const final = await shown(page);
    assert.deepEqual(final.map((m) => m.text), ['before 1', 'before 2', 'meanwhile 1', 'meanwhile 2', 'meanwhile 3',
      'written while the server was down'], JSON.stringify(got));
    assert.deepEqual(final.map((m) => m.id), [1, 2, 3, 4, 5, 6]);
    assert.ok(final[5].own);
    assert.match(page.socketUrls.at(-1), /\/ws\?username=Rita$/);
    // The server has each once too.
    const stored = (await request(port, '/api/rooms/restart/messages')).json.messages.map((m) => m.content);
    assert.equal(stored.filter((c) => c === 'written while the server was down').length, 1);
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a refused message stays with the reason and is sent again by Retry', { timeout: 60000, skip }, async () => {
  // One message a second, bursts of two: the third and fourth of a quick four are refused.
  const server = await startServer({ args: ['--max-message-rate', '1'] });
  const errors = [];
  try {
    const page = await openPage(browser, 'Quick', { server, errors, hash: '#quick' });
    await joinAsGuest(page, 'Quick');
    for (const n of [1, 2, 3, 4]) await say(page, `quick ${n}`);
    await page.getByText('Not sent: too many messages at once.').first().waitFor();
    // Every one of the four settled (confirmed, or refused with its reason): none in flight.
    await page.waitForFunction(() => !document.querySelector('.msg.pending:not(.failed)'));
    const refused = await page.$$eval('.msg.pending.failed .text', (x) => x.map((e) => e.textContent));
    assert.ok(refused.length >= 1, 'nothing refused');
    const confirmed = (await shown(page)).map((m) => m.text);
    assert.deepEqual([...confirmed, ...refused].sort(), ['quick 1', 'quick 2', 'quick 3', 'quick 4']);
    await screenshot(page, 'desktop-refused');
    await sleep(2100); // the allowance refills
    for (let i = 0; i < refused.length; i++) {
      await page.getByRole('button', { name: 'Retry' }).first().click();
      await sleep(1100);
    }
    await page.waitForFunction(() => !document.querySelector('.msg.pending'));
    const all = (await shown(page)).map((m) => m.text);
    assert.deepEqual([...all].sort(), ['quick 1', 'quick 2', 'quick 3', 'quick 4'], 'each once');
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await server.stop();
  }
});

test('dark mode: follows the system, the toggle wins and is remembered; text contrast is AA in both', { timeout: 60000, skip }, async () => {
  const server = await startServer();
  const errors = [];
  try {
    await post(server, 'colours', 'Pat', ['see https://example.com', 'a second line']);
    const page = await openPage(browser, 'Dee', { server, errors, hash: '#colours', colorScheme: 'dark' });
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(await bg(), 'rgb(13, 17, 23)', 'the sign-in screen is dark');
    assert.deepEqual(await lowContrast(page), []);
    await screenshot(page, 'dark-signin');
    await joinAsGuest(page, 'Dee');
    await messages(page, 2);
    await say(page, 'mine, in the dark');
    await messages(page, 3);
    const toggle = page.getByRole('button', { name: 'Dark mode' });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    assert.deepEqual(await lowContrast(page), [], 'dark');
    await screenshot(page, 'dark-desktop');
    await page.setViewportSize(PHONE);
    await screenshot(page, 'dark-phone');
    await page.setViewportSize(DESKTOP);

    await toggle.click();
    assert.equal(await bg(), 'rgb(255, 255, 255)');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    assert.deepEqual(await lowContrast(page), [], 'light');
    await page.reload();
    await waitOpen(page);
    assert.equal(await bg(), 'rgb(255, 255, 255)', 'the choice was not remembered');
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await server.stop();
  }
});

test('360 px wide with 200 people: the people list scrolls on its own and never covers the log; the rooms are a drawer', { timeout: 120000, skip }, async () => {
  const server = await startServer();
  const errors = [];
  let crowd = [];
  try {
    crowd = await connectMany(server.port, 'crowd', 200, { concurrency: 50, username: (i) => `person-${String(i).padStart(3, '0')}` });
    await post(server, 'crowd', 'Host', ['welcome, everyone', 'a long line that has to wrap on a phone screen because it is long']);
    const page = await openPage(browser, 'Phil', { server, errors, hash: '#crowd', viewport: PHONE });
    await joinAsGuest(page, 'Phil');
    await messages(page, 2);
    const toggle = page.getByRole('button', { name: /^People/ });
    await page.waitForFunction(() => /201/.test(document.querySelector('.people-toggle').textContent));
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false', 'the people list starts collapsed on a phone');
    await toggle.click();
    const list = page.getByRole('list', { name: 'People' });
    assert.equal(await list.getByRole('listitem').count(), 201);
    const geometry = await page.evaluate(() => {
      const box = (s) => document.querySelector(s).getBoundingClientRect();
      const body = document.querySelector('.people-body');
      return {
        people: box('.people-body'), log: box('.log-scroller'), composer: box('.composer'),
        scrolls: body.scrollHeight > body.clientHeight, width: document.documentElement.scrollWidth,
      };
    });
    assert.ok(geometry.people.bottom <= geometry.log.top, `the people list (bottom ${geometry.people.bottom}) covers the log (top ${geometry.log.top})`);
    assert.ok(geometry.scrolls, 'the people list does not scroll on its own');
    assert.ok(geometry.log.height >= 100, `the log is ${geometry.log.height} px high`);
    assert.ok(geometry.composer.bottom <= PHONE.height + 1, 'the composer is off screen');
    assert.ok(geometry.width <= PHONE.width, `the page is ${geometry.width} px wide`);
    await screenshot(page, 'phone-people');
    await toggle.click();

    // The rooms: a drawer, opened by its button, closed by Escape.
    const nav = roomsNav(page);
    assert.ok(!(await nav.isVisible()), 'the room list shows on a phone without being asked');
    await page.getByRole('button', { name: /^Rooms/ }).click();
    await nav.getByRole('link', { name: /#crowd/ }).waitFor();
    await page.waitForTimeout(300); // the drawer slides in
    const drawer = await nav.boundingBox();
    assert.ok(drawer.x >= 0 && drawer.x + drawer.width <= PHONE.width);
    await screenshot(page, 'phone-drawer');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => getComputedStyle(document.querySelector('#rooms')).visibility === 'hidden');
    await screenshot(page, 'phone-chat');

    // 200% zoom of a 1280 x 800 window is a 640 x 400 CSS-pixel page: still usable.
    await page.setViewportSize({ width: 640, height: 400 });
    const zoomed = await page.evaluate(() => ({
      width: document.documentElement.scrollWidth,
      log: document.querySelector('.log-scroller').getBoundingClientRect().height,
      composer: document.querySelector('.composer').getBoundingClientRect().bottom,
    }));
    assert.ok(zoomed.width <= 640 && zoomed.log >= 80 && zoomed.composer <= 401, JSON.stringify(zoomed));
    await say(page, 'sent at 200%');
    assert.equal((await messages(page, 3))[2].text, 'sent at 200%');
    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await Promise.all(crowd.map((c) => c.terminate()));
    await server.stop();
  }
});
