// Graceful shutdown: SIGTERM closes every connection with 1001 and exits 0 within 5 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, withTimeout, fileTimeout } from './server.mjs';

fileTimeout(60000);

test('SIGTERM: every client gets 1001, exit code 0 within 5 s', { timeout: 20000 }, async () => {
  const srv = await startServer();
  try {
    const clients = [
      await srv.connect('one', 'A'),
      await srv.connect('one', 'B'),
      await srv.connect('two', 'C'),
    ];
    clients[0].send({ content: 'before shutdown' });
    await Promise.all([clients[0].nextMessage(), clients[1].nextMessage()]);

    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    const code = await withTimeout(srv.exited, 5000, 'the server to exit after SIGTERM');
    const took = Date.now() - t0;
    assert.equal(code, 0, `exit ${code}; output:\n${srv.output()}`);
    const infos = await withTimeout(Promise.all(clients.map((c) => c.closed)), 2000, 'the clients to see the close');
    infos.forEach((info, i) => assert.equal(info.code, 1001, `client ${i}: close ${info.code} (${info.reason})`));
    assert.ok(took < 5000, `took ${took} ms`);
  } finally {
    await srv.stop();
  }
});

test('SIGINT does the same', { timeout: 20000 }, async () => {
  const srv = await startServer();
  try {
    const c = await srv.connect('one', 'A');
    srv.proc.kill('SIGINT');
    const code = await withTimeout(srv.exited, 5000, 'the server to exit after SIGINT');
    assert.equal(code, 0, `exit ${code}`);
    const info = await c.waitClosed(2000);
    assert.equal(info.code, 1001);
  } finally {
    await srv.stop();
  }
});

test('SIGTERM with no client: exit 0 at once', { timeout: 20000 }, async () => {
  const srv = await startServer();
  const t0 = Date.now();
  const code = await srv.stop(5000);
  assert.equal(code, 0);
  assert.ok(Date.now() - t0 < 5000);
});
