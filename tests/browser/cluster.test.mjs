// The browser client on a cluster behind nginx (issue 15): a page chats through nginx, the
// instance its WebSocket landed on is killed with kill -9, and the page reconnects by itself
// through nginx to another instance, resumes with ?since=, and shows every message once, in
// order: those sent meanwhile by others (on other instances) and its own, written while it was
// cut off. The page is the one the binary embeds, unchanged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileTimeout, request, sleep } from '../integration/server.mjs';
import { startPostgres } from '../integration/postgres.mjs';
import { startRedis, startInstances, startNginx } from '../integration/cluster.mjs';
import { ChatClient, sendAll, waitSettled } from '../integration/cluster-chat.mjs';
import { joinAsGuest, launch, messages, openPage, say, screenshot, shown, skip, waitOpen } from './browser.mjs';

fileTimeout(180000);

let browser;
let pg;
before(async () => {
  if (skip) return;
  [browser, pg] = await Promise.all([launch(), startPostgres()]);
});
after(async () => {
  await browser?.close().catch(() => {});
  await pg?.stop();
});

test('through nginx: the instance a page is on dies; it reconnects to another, nothing missing, nothing twice', { timeout: 120000, skip }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const inst = await startInstances(3, { redisUrl: redis.url, db: await pg.createDatabase(), leaseMs: 2000 });
  t.after(() => inst.stop());
  await waitSettled(inst, 3);
  const nginx = await startNginx({ upstreams: inst.ports });
  t.after(() => nginx.stop());

  const errors = [];
  // While its instance is gone the page's socket drops and a reconnect may hit it first.
  const expected = [/WebSocket connection to .* failed/, /request failed .*\/api\/rooms/, /request failed .*\/ws\?/, /HTTP 50[234]/];
  const page = await openPage(browser, 'Rita', { server: { url: `http://127.0.0.1:${nginx.port}` }, errors, expected, hash: '#across' });
  await joinAsGuest(page, 'Rita');
  // Sid talks from a client of its own on every instance in turn.
  let live = () => inst.ports;
  const sid = new ChatClient({ ports: () => live(), room: 'across', username: 'Sid', start: 0 });
  await sid.open();
  await sendAll([sid], { count: 2, tag: 'before' });
  await messages(page, 2);

  // Which instance holds the page's WebSocket: the one counting one connection more than Sid's.
  const counts = await Promise.all(inst.ports.map(async (p) => (await request(p, '/healthz')).json.connections));
  const sidAt = sid.at % 3;
  const victim = counts.findIndex((n, i) => n - (i === sidAt ? 1 : 0) === 1);
  assert.ok(victim >= 0, `the page's instance: connections ${counts}, Sid on ${sidAt}`);
  live = () => inst.ports.filter((_, i) => i !== victim);
  await inst.kill9(victim);
  await page.waitForSelector('#status[data-state="reconnecting"], #status[data-state="connecting"], #status[data-state="open"]');
  await say(page, 'written while cut off');
  await sendAll([sid], { count: 3, tag: 'meanwhile', timeoutMs: 30000 });
  await waitOpen(page);
  await messages(page, 6, 30000).catch(async (err) => {
    const status = await page.locator('#status').textContent().catch(() => '?');
    throw new Error(`${err.message}; status "${status}"; shown ${JSON.stringify(await shown(page))}; ` +
      `pending ${JSON.stringify(await page.$$eval('.msg.pending .text', (x) => x.map((e) => e.textContent)))}; ` +
      `sockets ${JSON.stringify(page.socketUrls)}; sid ${JSON.stringify(sid.errors.slice(-3))} unacked ${sid.unacked.size}`);
  });
  await page.waitForFunction(() => !document.querySelector('.msg.pending'), null, { timeout: 20000 });
  await sleep(300);
  const final = await shown(page);
  await screenshot(page, 'cluster-reconnected');
  const texts = final.map((m) => m.text);
  for (const want of ['before Sid 0', 'before Sid 1', 'meanwhile Sid 0', 'meanwhile Sid 1', 'meanwhile Sid 2', 'written while cut off'])
    assert.equal(texts.filter((x) => x === want).length, 1, `${want}: ${JSON.stringify(texts)}`);
  assert.deepEqual(final.map((m) => m.id), [1, 2, 3, 4, 5, 6], JSON.stringify(final));
  const stored = (await request(live()[0], '/api/rooms/across/messages')).json.messages.map((m) => m.content);
  assert.equal(stored.filter((c) => c === 'written while cut off').length, 1);
  sid.close();
  assert.deepEqual(errors, [], 'errors in the page');
});
