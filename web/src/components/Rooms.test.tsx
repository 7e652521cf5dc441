// Private rooms, direct messages and the owner's member management in the page, against a
// stand-in of the server's rooms API that keeps its own members and bans (so each screen is
// what the server's answers make it), and the frames that drop a room.
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatClient } from '../ChatClient';
import { FakeSocket, makeSocket, resetClock } from '../test/FakeSocket';
import { ClientContext } from '../useChat';
import { App } from './App';

type Role = 'owner' | 'admin' | 'member';
interface FakeRoom { private: boolean; direct: boolean; members: { username: string; role: Role }[]; bans: string[] }

// The rooms API as the server answers it, for the signed-in `me`; `calls` records each request.
function fakeServer(me: string, rooms: Record<string, FakeRoom>, directory: object[] = []) {
  const calls: { method: string; path: string; body?: unknown; auth?: string }[] = [];
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  const fetch = vi.fn(async (url: RequestInfo | URL, init: RequestInit = {}) => {
    const path = String(url);
    const method = init.method ?? 'GET';
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method, path, body, auth: (init.headers as Record<string, string> | undefined)?.Authorization });
    if (path === '/api/rooms' && method === 'GET') return json(200, { rooms: directory, complete: true });
    if (path === '/api/rooms' && method === 'POST') {
      if (rooms[body.room]) return json(409, { error: 'room_exists', message: 'a room of that name exists' });
      rooms[body.room] = { private: body.visibility === 'private', direct: false, members: [{ username: me, role: 'owner' }], bans: [] };
      directory.push({ room: body.room, members: 0, last_id: 0, visibility: 'private' });
      return json(201, { room: body.room, visibility: body.visibility, owner: me });
    }
    const dm = path.match(/^\/api\/dm\/(.+)$/);
    if (dm) {
      const other = decodeURIComponent(dm[1]);
      if (other === 'Nobody') return json(404, { error: 'no_such_user', message: 'no account has that name' });
      const name = 'dm.0123456789abcdef0123456789abcdef';
      rooms[name] = { private: true, direct: true, members: [{ username: me, role: 'member' }, { username: other, role: 'member' }], bans: [] };
      directory.push({ room: name, members: 0, last_id: 0, visibility: 'private', direct: true, with: other });
      return json(200, { room: name, with: other });
    }
    const m = path.match(/^\/api\/rooms\/([^/]+)\/(members|bans)(?:\/(.+))?$/);
    if (!m) return json(404, { error: 'not_found' });
    const [, roomName, what, user] = m;
    const room = rooms[roomName];
    if (!room && what === 'members' && method === 'GET')
      return json(200, { room: roomName, visibility: 'public', registered: false, members: [] });
    if (!room) return json(404, { error: 'room_not_found', message: 'no registered room' });
    if (what === 'members' && method === 'GET')
      return json(200, { room: roomName, visibility: room.private ? 'private' : 'public', registered: true, ...(room.direct ? { direct: true } : {}), members: room.members });
    if (what === 'bans' && method === 'GET')
      return json(200, { room: roomName, bans: room.bans.map((b) => ({ username: b, banned_at: '2026-12-03T10:00:00.000Z' })) });
    if (what === 'members' && method === 'POST') {
      room.members = room.members.filter((x) => x.username !== body.username).concat({ username: body.username, role: body.role });
      return json(200, { room: roomName, username: body.username, role: body.role });
    }
    if (what === 'members' && method === 'DELETE') {
      room.members = room.members.filter((x) => x.username !== decodeURIComponent(user));
      return json(200, { room: roomName, username: user, removed: true });
    }
    if (what === 'bans' && method === 'POST') {
      if (body.username === me) return json(400, { error: 'invalid_username', message: 'that is you' });
      room.members = room.members.filter((x) => x.username !== body.username);
      room.bans.push(body.username);
      return json(200, { room: roomName, username: body.username, banned: true });
    }
    if (what === 'bans' && method === 'DELETE') {
      room.bans = room.bans.filter((b) => b !== decodeURIComponent(user));
      return json(200, { room: roomName, username: user, banned: false });
    }
    return json(405, { error: 'method_not_allowed' });
  });
  return { fetch, calls };
}

// Signed in as `me` (a kept session), in `room`, connected.
function mountSignedIn(me: string, room: string, server: ReturnType<typeof fakeServer>) {
  localStorage.setItem('parley-session', JSON.stringify({ username: me, token: `tok-${me}`, expiresAt: Date.now() + 3600e3 }));
  localStorage.setItem('parley-rooms', JSON.stringify([room]));
  const target = new EventTarget() as unknown as Window;
  Object.assign(target, { navigator: { onLine: true } });
  const client = new ChatClient({ makeSocket, fetch: server.fetch as unknown as typeof fetch, location: { protocol: 'http:', host: 'h' }, target });
  client.start();
  render(<ClientContext.Provider value={client}><App /></ClientContext.Provider>);
  const ws = FakeSocket.last();
  act(() => {
    ws.open();
    ws.receive({ type: 'history', room, messages: [], has_more: false });
    ws.receive({ type: 'presence', room, users: [me], count: 1 });
  });
  return { client, ws, user: userEvent.setup() };
}

const names = (list: HTMLElement) => within(list).getAllByRole('listitem').map((li) => li.textContent?.replace(/(Remove|Ban|Lift ban)/g, '').trim());

beforeEach(() => {
  FakeSocket.all = [];
  resetClock();
});

describe('a registered room\'s members', () => {
  it('the owner lists, adds (with a role), removes, bans and lifts a ban', async () => {
    const server = fakeServer('Alice', {
      team: { private: true, direct: false, members: [{ username: 'Alice', role: 'owner' }, { username: 'Bob', role: 'member' }], bans: [] },
    });
    const { user } = mountSignedIn('Alice', 'team', server);
    const list = await screen.findByRole('list', { name: 'Members' });
    await waitFor(() => expect(names(list)).toEqual(['Alice (you) · owner', 'Bob · member']));
    expect(screen.getByRole('heading', { name: 'Members (private room)' })).toBeTruthy();
    expect(server.calls.find((c) => c.path === '/api/rooms/team/members')?.auth).toBe('Bearer tok-Alice');
    expect(within(list).queryByRole('button', { name: 'Remove Alice' })).toBeNull(); // the owner stays

    await user.type(screen.getByLabelText('Add a person'), 'Carol');
    await user.selectOptions(screen.getByRole('combobox', { name: 'Role' }), 'admin');
    await user.click(screen.getByRole('button', { name: 'Add' }));
    await waitFor(() => expect(names(screen.getByRole('list', { name: 'Members' }))).toContain('Carol · admin'));
    expect(server.calls.find((c) => c.method === 'POST' && c.path === '/api/rooms/team/members')?.body).toEqual({ username: 'Carol', role: 'admin' });

    await user.click(screen.getByRole('button', { name: 'Remove Bob' }));
    await waitFor(() => expect(names(screen.getByRole('list', { name: 'Members' }))).toEqual(['Alice (you) · owner', 'Carol · admin']));
    expect(server.calls.some((c) => c.method === 'DELETE' && c.path === '/api/rooms/team/members/Bob')).toBe(true);

    await user.click(screen.getByRole('button', { name: 'Ban Carol' }));
    const banned = await screen.findByRole('list', { name: 'Banned' });
    expect(names(banned)).toEqual(['Carol']);
    expect(names(screen.getByRole('list', { name: 'Members' }))).toEqual(['Alice (you) · owner']);
    await user.click(screen.getByRole('button', { name: 'Lift the ban on Carol' }));
    await waitFor(() => expect(screen.queryByRole('list', { name: 'Banned' })).toBeNull());
    expect(server.calls.some((c) => c.method === 'DELETE' && c.path === '/api/rooms/team/bans/Carol')).toBe(true);
  });

  it('shows the server\'s refusal in words', async () => {
    const server = fakeServer('Alice', { team: { private: true, direct: false, members: [{ username: 'Alice', role: 'owner' }], bans: [] } });
    const { user } = mountSignedIn('Alice', 'team', server);
    await screen.findByRole('list', { name: 'Members' });
    await user.type(screen.getByLabelText('Add a person'), 'Alice');
    await user.click(screen.getByRole('button', { name: 'Ban this name' }));
    expect((await screen.findByRole('alert')).textContent).toBe('that is you');
  });

  it('a member sees the members but no controls; a public unregistered room shows nothing', async () => {
    const server = fakeServer('Bob', {
      team: { private: true, direct: false, members: [{ username: 'Alice', role: 'owner' }, { username: 'Bob', role: 'member' }], bans: [] },
    });
    const { client } = mountSignedIn('Bob', 'team', server);
    const list = await screen.findByRole('list', { name: 'Members' });
    await waitFor(() => expect(names(list)).toEqual(['Alice · owner', 'Bob (you) · member']));
    expect(screen.queryByRole('button', { name: /Remove|Ban/ })).toBeNull();
    expect(screen.queryByLabelText('Add a person')).toBeNull();
    expect(server.calls.some((c) => c.path.endsWith('/bans'))).toBe(false);
    act(() => client.openRoom('general'));
    await waitFor(() => expect(server.calls.some((c) => c.path === '/api/rooms/general/members')).toBe(true));
    await waitFor(() => expect(screen.queryByRole('list', { name: 'Members' })).toBeNull());
  });
});

describe('private rooms and direct messages from the room list', () => {
  it('creates a private room on the server, then opens it', async () => {
    const server = fakeServer('Alice', { taken: { private: false, direct: false, members: [], bans: [] } });
    const { user, ws } = mountSignedIn('Alice', 'general', server);
    const nav = screen.getByRole('navigation', { name: 'Rooms' });
    await user.click(within(nav).getByLabelText('New private room (members only)'));
    await user.type(within(nav).getByLabelText('Join or create a room'), 'taken');
    await user.click(within(nav).getByRole('button', { name: 'Create' }));
    expect((await within(nav).findByText('That room exists already.'))).toBeTruthy();
    expect(ws.sentOfType('subscribe').map((f) => f.room)).toEqual(['general']);

    await user.clear(within(nav).getByLabelText('Join or create a room'));
    await user.type(within(nav).getByLabelText('Join or create a room'), 'team');
    await user.click(within(nav).getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(ws.sentOfType('subscribe').map((f) => f.room)).toEqual(['general', 'team']));
    expect(server.calls.filter((c) => c.method === 'POST' && c.path === '/api/rooms').map((c) => c.body)).toEqual([{ room: 'taken', visibility: 'private' }, { room: 'team', visibility: 'private' }]);
    expect(within(nav).getByRole('link', { name: /#team.*\(private\)/ })).toBeTruthy();
  });

  it('opens the direct-message room with a person, listed by their name', async () => {
    const server = fakeServer('Alice', {});
    const { user, ws } = mountSignedIn('Alice', 'general', server);
    const nav = screen.getByRole('navigation', { name: 'Rooms' });
    await user.type(within(nav).getByLabelText('Message a person'), 'Nobody');
    await user.click(within(nav).getByRole('button', { name: 'Open' }));
    expect(await within(nav).findByText('Nobody has that name.')).toBeTruthy();
    await user.clear(within(nav).getByLabelText('Message a person'));
    await user.type(within(nav).getByLabelText('Message a person'), 'Bob');
    await user.click(within(nav).getByRole('button', { name: 'Open' }));
    const dm = 'dm.0123456789abcdef0123456789abcdef';
    await waitFor(() => expect(ws.sentOfType('subscribe').map((f) => f.room)).toEqual(['general', dm]));
    expect(within(nav).getByRole('link', { name: /@Bob/ }).getAttribute('href')).toBe(`#${dm}`);
    expect(screen.getByRole('heading', { level: 2, name: '@Bob' })).toBeTruthy();
  });

  it('guests are offered neither', () => {
    const target = new EventTarget() as unknown as Window;
    Object.assign(target, { navigator: { onLine: true } });
    const server = fakeServer('x', {});
    const client = new ChatClient({ makeSocket, fetch: server.fetch as unknown as typeof fetch, location: { protocol: 'http:', host: 'h' }, target });
    client.continueAsGuest('Ann');
    render(<ClientContext.Provider value={client}><App /></ClientContext.Provider>);
    expect(screen.queryByLabelText('New private room (members only)')).toBeNull();
    expect(screen.queryByLabelText('Message a person')).toBeNull();
  });
});

describe('a room that drops the user', () => {
  it('removed or banned: the room says so and takes no more messages', async () => {
    const server = fakeServer('Bob', {});
    const { ws } = mountSignedIn('Bob', 'team', server);
    act(() => ws.receive({ type: 'unsubscribed', room: 'team', code: 'not_a_member' }));
    expect(screen.getByRole('alert').textContent).toMatch(/members only/);
    expect((screen.getByRole('textbox', { name: 'Message' }) as HTMLTextAreaElement).disabled).toBe(true);
    act(() => ws.receive({ type: 'error', room: 'team', code: 'banned', message: 'you are banned from this room' }));
    expect(screen.getByRole('alert').textContent).toBe('You are banned from this room.');
  });
});
