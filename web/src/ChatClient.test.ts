import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatClient } from './ChatClient';
import { FakeSocket, makeSocket, msg, resetClock } from './test/FakeSocket';

type Reply = { status: number; body: unknown };
function fakeFetch(routes: Record<string, Reply | (() => Reply)>) {
  return vi.fn(async (url: RequestInfo | URL) => {
    const u = String(url);
    const key = Object.keys(routes).find((k) => u.includes(k));
    if (!key) throw new TypeError('connection refused');
    const r = routes[key];
    const { status, body } = typeof r === 'function' ? r() : r;
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  });
}

function newClient(routes: Record<string, Reply | (() => Reply)> = { '/api/rooms': { status: 200, body: { rooms: [] } } }) {
  const target = new EventTarget() as unknown as Window;
  Object.assign(target, { navigator: { onLine: true } });
  return new ChatClient({ makeSocket, fetch: fakeFetch(routes) as unknown as typeof fetch, location: { protocol: 'http:', host: 'h' }, target, random: () => 1 });
}

// A guest in `rooms`, connected, each room subscribed with its history and presence.
function connectedGuest(name: string, rooms: string[]) {
  localStorage.setItem('parley-rooms', JSON.stringify(rooms));
  const c = newClient();
  c.continueAsGuest(name);
  const ws = FakeSocket.last();
  ws.open();
  for (const room of rooms) {
    ws.receive({ type: 'history', room, messages: [], has_more: false });
    ws.receive({ type: 'presence', room, users: [name], count: 1 });
  }
  return { c, ws };
}

beforeEach(() => {
  FakeSocket.all = [];
  resetClock();
});
afterEach(() => vi.useRealTimers());

describe('ChatClient', () => {
  it('subscribes every joined room on one connection, and resumes each with since after a loss', () => {
    vi.useFakeTimers();
    const { c, ws } = connectedGuest('Ann', ['a', 'b']);
    expect(ws.url).toBe('ws://h/ws?username=Ann');
    expect(ws.sentOfType('subscribe')).toEqual([{ type: 'subscribe', room: 'a' }, { type: 'subscribe', room: 'b' }]);
    ws.receive(msg('a', 1, 'Bob', 'one'));
    ws.receive(msg('a', 2, 'Bob', 'two'));
    ws.drop(1001);
    expect(c.getState().status.state).toBe('reconnecting');
    vi.advanceTimersByTime(500);
    const again = FakeSocket.last();
    expect(again).not.toBe(ws);
    again.open();
    expect(again.sentOfType('subscribe')).toEqual([{ type: 'subscribe', room: 'a', since: 2 }, { type: 'subscribe', room: 'b' }]);
    again.receive({ type: 'history', room: 'a', messages: [msg('a', 2, 'Bob', 'two'), msg('a', 3, 'Bob', 'three')], has_more: false });
    expect(c.getState().rooms.a.messages.map((m) => m.id)).toEqual([1, 2, 3]);
    c.dispose();
  });

  it('shows a message as pending until its client_id comes back, and knows it as own by client_id, not by name', () => {
    const { c, ws } = connectedGuest('Ann', ['a']);
    expect(c.send('a', 'hello')).toBe(true);
    const [sent] = ws.sentOfType('message');
    expect(sent).toMatchObject({ room: 'a', content: 'hello' });
    expect(c.getState().rooms.a.pending).toMatchObject([{ state: 'sent', content: 'hello' }]);
    // Another guest also called Ann: not own.
    ws.receive(msg('a', 1, 'Ann', 'I am another Ann', { client_id: 'someone-else' }));
    ws.receive(msg('a', 2, 'Ann', 'hello', { client_id: sent.client_id }));
    const r = c.getState().rooms.a;
    expect(r.pending).toEqual([]);
    expect(r.messages.map((m) => c.isOwn(m))).toEqual([false, true]);
    c.dispose();
  });

  it('keeps a refused message with the reason, and retries it with the same client_id', () => {
    const { c, ws } = connectedGuest('Ann', ['a']);
    c.send('a', 'too fast');
    const id = ws.sentOfType('message')[0].client_id;
    ws.receive({ type: 'error', room: 'a', code: 'rate_limited', message: 'slow down', client_id: id });
    expect(c.getState().rooms.a.pending).toMatchObject([{ state: 'failed', reason: 'Not sent: too many messages at once.' }]);
    c.retry('a', id as string);
    expect(ws.sentOfType('message')).toHaveLength(2);
    expect(ws.sentOfType('message')[1].client_id).toBe(id);
    expect(c.getState().rooms.a.pending[0].state).toBe('sent');
    c.dispose();
  });

  it('sends a cluster_unavailable message again by itself with the same client_id, a few times, then asks', () => {
    vi.useFakeTimers();
    const { c, ws } = connectedGuest('Ann', ['a']);
    c.send('a', 'during a takeover');
    const id = ws.sentOfType('message')[0].client_id;
    for (let i = 1; i <= 5; i++) {
      ws.receive({ type: 'error', room: 'a', code: 'cluster_unavailable', message: 'later', client_id: id });
      expect(c.getState().rooms.a.pending[0]).toMatchObject({ state: 'queued' });
      vi.advanceTimersByTime(60_000);
      expect(ws.sentOfType('message')).toHaveLength(i + 1);
      expect(ws.sentOfType('message')[i].client_id).toBe(id);
    }
    ws.receive({ type: 'error', room: 'a', code: 'cluster_unavailable', message: 'later', client_id: id });
    expect(c.getState().rooms.a.pending).toMatchObject([{ state: 'failed', reason: 'Not sent: the servers could not take it just now.' }]);
    vi.advanceTimersByTime(60_000);
    expect(ws.sentOfType('message')).toHaveLength(6);
    c.dispose();
  });

  it('queues what is sent while disconnected and sends it once the room is back', () => {
    vi.useFakeTimers();
    const { c, ws } = connectedGuest('Ann', ['a']);
    ws.drop(1006);
    c.send('a', 'while away');
    expect(c.getState().rooms.a.pending[0].state).toBe('queued');
    vi.advanceTimersByTime(500);
    const again = FakeSocket.last();
    again.open();
    expect(again.sentOfType('message')).toEqual([]); // not before the room is subscribed again
    again.receive({ type: 'history', room: 'a', messages: [], has_more: false });
    again.receive({ type: 'presence', room: 'a', users: ['Ann'], count: 1 });
    expect(again.sentOfType('message')).toMatchObject([{ room: 'a', content: 'while away' }]);
    c.dispose();
  });

  it('counts unread messages in rooms not being read, and remembers them across a reload', () => {
    const { c, ws } = connectedGuest('Ann', ['a', 'b']);
    c.openRoom('a');
    c.setReading(true);
    ws.receive(msg('a', 1, 'Bob', 'read at once'));
    ws.receive(msg('b', 1, 'Bob', 'unread 1'));
    ws.receive(msg('b', 2, 'Bob', 'unread 2'));
    expect(c.getState().rooms.a.unread).toBe(0);
    expect(c.getState().rooms.a.divider).toBeNull(); // read as it came: no "new messages" line
    expect(c.getState().rooms.b.unread).toBe(2);
    expect(c.getState().rooms.b.divider).toBe(0);
    c.dispose(); // saves the marks
    FakeSocket.all = [];
    const reloaded = newClient();
    expect(reloaded.getState().rooms.b.unread).toBe(2); // before any connection
    reloaded.start();
    const ws2 = FakeSocket.last();
    ws2.open();
    ws2.receive({ type: 'history', room: 'b', messages: [msg('b', 1, 'Bob', 'unread 1'), msg('b', 2, 'Bob', 'unread 2'), msg('b', 3, 'Bob', 'new')], has_more: false });
    expect(reloaded.getState().rooms.b.unread).toBe(3);
    reloaded.openRoom('b');
    reloaded.setReading(true);
    expect(reloaded.getState().rooms.b.unread).toBe(0);
    reloaded.dispose();
  });

  it('pages back with the oldest id it has', () => {
    const { c, ws } = connectedGuest('Ann', ['a']);
    ws.receive({ type: 'history', room: 'a', messages: [msg('a', 451, 'B', 'x'), msg('a', 452, 'B', 'y')], has_more: true });
    c.loadOlder('a');
    c.loadOlder('a'); // one request at a time
    expect(ws.sentOfType('history')).toEqual([{ type: 'history', room: 'a', before: 451, limit: 50 }]);
    ws.receive({ type: 'history', room: 'a', before: 451, messages: [msg('a', 450, 'B', 'w')], has_more: false });
    expect(c.getState().rooms.a.hasMore).toBe(false);
    expect(c.getState().rooms.a.messages[0].id).toBe(450);
    c.dispose();
  });

  it('a token the restarted server no longer accepts signs out with "please sign in again"', async () => {
    localStorage.setItem('parley-session', JSON.stringify({ username: 'Dora', token: 'old', expiresAt: Date.now() + 3600e3 }));
    const c = newClient({ '/ws?token=old': { status: 401, body: { error: 'invalid_token', message: 'token is not valid' } } });
    c.start();
    expect(c.getState().user).toEqual({ name: 'Dora', account: true });
    expect(FakeSocket.last().url).toBe('ws://h/ws?token=old');
    FakeSocket.last().drop(1006); // refused upgrade
    await vi.waitFor(() => expect(c.getState().screen).toBe('signin'));
    expect(c.getState().signInMessage?.text).toBe('Signed out, please sign in again.');
    expect(localStorage.getItem('parley-session')).toBeNull();
    c.dispose();
  });

  it('a server that requires an account sends a guest to the sign-in screen', async () => {
    const c = newClient({ '/ws?username=Gus': { status: 401, body: { error: 'auth_required', message: 'sign in' } } });
    c.continueAsGuest('Gus');
    FakeSocket.last().drop(1006);
    await vi.waitFor(() => expect(c.getState().signInMessage?.text).toMatch(/requires an account/));
    c.dispose();
  });

  it('signs in, keeps the session where asked, and never stores the password', async () => {
    const exp = new Date(Date.now() + 3600e3).toISOString();
    const c = newClient({ '/api/login': { status: 200, body: { username: 'Dora', token: 'T1', expires_at: exp } }, '/api/rooms': { status: 200, body: { rooms: [] } } });
    c.start();
    await c.signIn('login', 'dora', 'correct horse', false);
    expect(c.getState().screen).toBe('chat');
    expect(FakeSocket.last().url).toBe('ws://h/ws?token=T1');
    expect(sessionStorage.getItem('parley-session')).toMatch(/T1/);
    expect(localStorage.getItem('parley-session')).toBeNull();
    expect(JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })).not.toMatch(/horse/);
    c.signOut();
    await c.signIn('login', 'dora', 'correct horse', true);
    expect(localStorage.getItem('parley-session')).toMatch(/T1/);
    expect(sessionStorage.getItem('parley-session')).toBeNull();
    c.dispose();
  });

  it('says why a sign-in failed, with the server\'s words', async () => {
    const c = newClient({ '/api/login': { status: 401, body: { error: 'invalid_credentials', message: 'wrong username or password' } } });
    c.start();
    await c.signIn('login', 'Ivan', 'nope nope nope', true);
    expect(c.getState().signInMessage).toEqual({ text: 'Could not sign in: wrong username or password', error: true });
    expect(c.getState().screen).toBe('signin');
    c.dispose();
  });

  it('4009 (disconnected by the application) stays closed until asked, and says so', () => {
    vi.useFakeTimers();
    localStorage.setItem('parley-session', JSON.stringify({ username: 'Dora', token: 't', expiresAt: Date.now() + 3600e3 }));
    const c = newClient();
    c.start();
    FakeSocket.last().open();
    FakeSocket.last().drop(4009, 'disconnected by the application');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(c.getState().screen).toBe('chat');
    expect(c.getState().status.text).toBe('The server disconnected you.');
    c.reconnectNow();
    expect(FakeSocket.all).toHaveLength(2);
    c.dispose();
  });

  it('4001 ends the session: expired, sign in again, no reconnect', () => {
    vi.useFakeTimers();
    localStorage.setItem('parley-session', JSON.stringify({ username: 'Dora', token: 't', expiresAt: Date.now() + 3600e3 }));
    const c = newClient();
    c.start();
    FakeSocket.last().open();
    FakeSocket.last().drop(4001, 'token expired');
    expect(c.getState().screen).toBe('signin');
    expect(c.getState().signInMessage?.text).toMatch(/expired/);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    c.dispose();
  });

  it('writes joins and leaves in the log of a small room only', () => {
    const { c, ws } = connectedGuest('Ann', ['small', 'busy']);
    ws.receive({ type: 'presence', room: 'busy', users: Array.from({ length: 60 }, (_, i) => `u${i}`), count: 60 });
    for (const room of ['small', 'busy']) {
      ws.receive({ type: 'join', room, username: 'Newcomer', timestamp: new Date().toISOString() });
    }
    expect(c.getState().rooms.small.notices).toHaveLength(1);
    expect(c.getState().rooms.busy.notices).toHaveLength(0);
    expect(c.getState().rooms.busy.memberCount).toBe(61);
    c.dispose();
  });
});
