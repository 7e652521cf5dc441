import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatClient } from '../ChatClient';
import { FakeSocket, makeSocket, msg, resetClock } from '../test/FakeSocket';
import { ClientContext } from '../useChat';
import { App } from './App';

// A signed-in user (a stored session) in #general with Bob: their own messages get the menu.
function mountSignedIn(name = 'Dora') {
  localStorage.setItem('parley-session', JSON.stringify({ username: name, token: 'T', expiresAt: Date.now() + 3600e3 }));
  const target = new EventTarget() as unknown as Window;
  Object.assign(target, { navigator: { onLine: true } });
  const fetch = vi.fn(async () => new Response(JSON.stringify({ rooms: [] }), { status: 200 }));
  const client = new ChatClient({ makeSocket, fetch: fetch as unknown as typeof globalThis.fetch, location: { protocol: 'http:', host: 'h' }, target });
  client.start();
  render(<ClientContext.Provider value={client}><App /></ClientContext.Provider>);
  const ws = FakeSocket.last();
  act(() => {
    ws.open();
    ws.receive({ type: 'history', room: 'general', messages: [msg('general', 1, name, 'mine'), msg('general', 2, 'Bob', 'his')], has_more: false });
    ws.receive({ type: 'presence', room: 'general', users: [name, 'Bob'], count: 2 });
  });
  return { client, ws, user: userEvent.setup() };
}

const row = (id: number) => document.querySelector(`.msg[data-id="${id}"]`) as HTMLElement;
const sentFrames = (ws: FakeSocket) => [...ws.sentOfType('edit'), ...ws.sentOfType('delete')];

beforeEach(() => {
  FakeSocket.all = [];
  localStorage.clear();
  sessionStorage.clear();
  resetClock();
});

describe('editing and deleting one\'s own messages', () => {
  it('offers the menu on one\'s own messages only', () => {
    mountSignedIn();
    expect(within(row(1)).getByRole('button', { name: 'Message actions' })).toBeTruthy();
    expect(within(row(2)).queryByRole('button', { name: 'Message actions' })).toBeNull();
  });

  it('edits in place: sends the edit, shows the new text and "(edited)" once the server says so', async () => {
    const { ws, user } = mountSignedIn();
    await user.click(within(row(1)).getByRole('button', { name: 'Message actions' }));
    await user.click(screen.getByRole('menuitem', { name: 'Edit' }));
    const box = screen.getByRole('textbox', { name: 'Edit message' }) as HTMLTextAreaElement;
    expect(box.value).toBe('mine');
    await user.clear(box);
    await user.type(box, 'mine, fixed{Enter}');
    expect(sentFrames(ws)).toEqual([{ type: 'edit', room: 'general', id: 1, content: 'mine, fixed' }]);
    expect(screen.queryByRole('textbox', { name: 'Edit message' })).toBeNull();
    expect(row(1).querySelector('.text')?.textContent).toBe('mine'); // not until it is stored
    act(() => ws.receive({ type: 'edited', room: 'general', id: 1, content: 'mine, fixed', edited_at: '2025-09-17T15:24:02.511Z' }));
    expect(row(1).querySelector('.text')?.textContent).toBe('mine, fixed');
    expect(within(row(1)).getByText('(edited)')).toBeTruthy();
  });

  it('Escape cancels an edit and sends nothing', async () => {
    const { ws, user } = mountSignedIn();
    await user.click(within(row(1)).getByRole('button', { name: 'Message actions' }));
    await user.click(screen.getByRole('menuitem', { name: 'Edit' }));
    await user.type(screen.getByRole('textbox', { name: 'Edit message' }), ' more{Escape}');
    expect(screen.queryByRole('textbox', { name: 'Edit message' })).toBeNull();
    expect(sentFrames(ws)).toEqual([]);
  });

  it('deletes: the message becomes a tombstone in its place, without a menu', async () => {
    const { ws, user } = mountSignedIn();
    await user.click(within(row(1)).getByRole('button', { name: 'Message actions' }));
    await user.click(screen.getByRole('menuitem', { name: 'Delete' }));
    expect(sentFrames(ws)).toEqual([{ type: 'delete', room: 'general', id: 1 }]);
    act(() => ws.receive({ type: 'deleted', room: 'general', id: 1 }));
    expect(row(1).querySelector('.text')?.textContent).toBe('Message deleted');
    expect(within(row(1)).queryByRole('button', { name: 'Message actions' })).toBeNull();
    // Someone else's deleted message reads the same; history tombstones too.
    act(() => ws.receive({ type: 'deleted', room: 'general', id: 2 }));
    expect(row(2).querySelector('.tombstone')?.textContent).toBe('Message deleted');
    act(() => ws.receive({ type: 'history', room: 'general', before: 1, messages: [], has_more: false }));
    expect(document.querySelectorAll('.msg')).toHaveLength(2);
  });

  it('a refused change is said in the room', async () => {
    const { ws } = mountSignedIn();
    act(() => ws.receive({ type: 'error', code: 'not_found', message: 'no such message', id: 9, room: 'general' }));
    expect(screen.getByText('Not changed: the message is gone.')).toBeTruthy();
  });

  it('guests get no menu, even on messages under their name', () => {
    const target = new EventTarget() as unknown as Window;
    Object.assign(target, { navigator: { onLine: true } });
    const fetch = vi.fn(async () => new Response(JSON.stringify({ rooms: [] }), { status: 200 }));
    const client = new ChatClient({ makeSocket, fetch: fetch as unknown as typeof globalThis.fetch, location: { protocol: 'http:', host: 'h' }, target });
    expect(client.canChange({ id: 1, room: 'general', username: 'anonymous', content: 'x', timestamp: '' })).toBe(false);
  });
});
