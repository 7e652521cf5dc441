import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatClient } from '../ChatClient';
import { FakeSocket, makeSocket, msg, resetClock } from '../test/FakeSocket';
import { ClientContext } from '../useChat';
import { App } from './App';

function mount() {
  const target = new EventTarget() as unknown as Window;
  Object.assign(target, { navigator: { onLine: true } });
  const fetch = vi.fn(async () => new Response(JSON.stringify({ rooms: [{ room: 'lobby', members: 4, last_id: 1 }] }), { status: 200 }));
  const client = new ChatClient({ makeSocket, fetch: fetch as unknown as typeof globalThis.fetch, location: { protocol: 'http:', host: 'h' }, target });
  client.start();
  render(<ClientContext.Provider value={client}><App /></ClientContext.Provider>);
  return client;
}

async function joinAsGuest(name: string) {
  const user = userEvent.setup();
  const client = mount();
  await user.type(screen.getByLabelText('Guest name (optional)'), name);
  await user.click(screen.getByRole('button', { name: 'Join as guest' }));
  const ws = FakeSocket.last();
  act(() => {
    ws.open();
    ws.receive({ type: 'history', room: 'general', messages: [], has_more: false });
    ws.receive({ type: 'presence', room: 'general', users: [name, 'Bob'], count: 2 });
  });
  return { user, client, ws };
}

beforeEach(() => {
  FakeSocket.all = [];
  resetClock();
});

describe('App', () => {
  it('starts on the sign-in screen with visible labels', () => {
    mount();
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(screen.getByLabelText('Name')).toBeTruthy();
    expect(screen.getByLabelText('Password')).toBeTruthy();
    expect((screen.getByLabelText('Keep me signed in') as HTMLInputElement).checked).toBe(true);
    expect(FakeSocket.all).toHaveLength(0);
  });

  it('gives the chat\'s parts the names screen readers and tests rely on', async () => {
    await joinAsGuest('Ann');
    expect(screen.getByRole('textbox', { name: 'Message' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Send' })).toBeTruthy();
    const nav = screen.getByRole('navigation', { name: 'Rooms' });
    expect(within(nav).getByRole('link', { name: /#general/ }).getAttribute('aria-current')).toBe('page');
    expect(within(nav).getByRole('link', { name: /#lobby/ })).toBeTruthy();
    const people = screen.getByRole('list', { name: 'People' });
    expect(within(people).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['Ann (you)', 'Bob']);
    expect(screen.getByRole('status').textContent).toBe('Connected as Ann.');
    expect(screen.getByRole('log')).toBeTruthy();
  });

  it('shows markup as text and makes only http(s) links clickable', async () => {
    const { ws } = await joinAsGuest('Ann');
    act(() => ws.receive(msg('general', 1, 'Bob', '<img src=x onerror="alert(1)"> see https://example.com/a and javascript:alert(2)')));
    const text = document.querySelector('.msg .text') as HTMLElement;
    expect(text.querySelector('img')).toBeNull();
    expect(text.textContent).toContain('<img src=x onerror="alert(1)">');
    const links = within(text).getAllByRole('link');
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['https://example.com/a']);
    expect(links[0].getAttribute('rel')).toMatch(/noopener/);
    expect(text.getAttribute('dir')).toBe('auto');
  });

  it('announces live messages only, never the history', async () => {
    const { ws } = await joinAsGuest('Ann');
    act(() => ws.receive({ type: 'history', room: 'general', messages: [msg('general', 1, 'Bob', 'old news')], has_more: false }));
    expect(screen.getByRole('log').textContent).toBe('');
    act(() => ws.receive(msg('general', 2, 'Bob', 'fresh')));
    expect(screen.getByRole('log').textContent).toBe('Bob: fresh');
  });

  it('Enter sends, Shift+Enter breaks the line; the line is pending, then confirmed', async () => {
    const { user, ws } = await joinAsGuest('Ann');
    const box = screen.getByRole('textbox', { name: 'Message' });
    await user.type(box, 'line one{Shift>}{Enter}{/Shift}line two');
    expect((box as HTMLTextAreaElement).value).toBe('line one\nline two');
    expect(screen.getByText('17 / 4000')).toBeTruthy();
    await user.keyboard('{Enter}');
    expect((box as HTMLTextAreaElement).value).toBe('');
    const [sent] = ws.sentOfType('message');
    expect(sent.content).toBe('line one\nline two');
    expect(document.querySelector('.msg.pending')?.textContent).toMatch(/Sending…/);
    act(() => ws.receive(msg('general', 1, 'Ann', 'line one\nline two', { client_id: sent.client_id })));
    expect(document.querySelector('.msg.pending')).toBeNull();
    expect(document.querySelector('.msg.own .text')?.textContent).toBe('line one\nline two');
  });

  it('a refused message stays with its reason and a Retry button', async () => {
    const { user, ws } = await joinAsGuest('Ann');
    await user.type(screen.getByRole('textbox', { name: 'Message' }), 'hello{Enter}');
    const id = ws.sentOfType('message')[0].client_id;
    act(() => ws.receive({ type: 'error', room: 'general', code: 'store_unavailable', message: 'x', client_id: id }));
    expect(screen.getByRole('alert').textContent).toMatch(/could not store it/);
    await user.click(screen.getByRole('button', { name: 'Retry' }));
    expect(ws.sentOfType('message').map((f) => f.client_id)).toEqual([id, id]);
    expect(screen.queryByRole('button', { name: 'Retry' })).toBeNull();
  });

  it('counts characters and refuses to send past the limit', async () => {
    const { ws } = await joinAsGuest('Ann');
    const box = screen.getByRole('textbox', { name: 'Message' }) as HTMLTextAreaElement;
    const user = userEvent.setup();
    await user.click(box);
    await user.paste('é'.repeat(4001));
    expect(screen.getByText(/1 too many: 4001 \/ 4000/)).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Send' }) as HTMLButtonElement).disabled).toBe(true);
    await user.keyboard('{Enter}');
    expect(ws.sentOfType('message')).toEqual([]);
  });

  it('shows date separators, groups one sender, and folds joins', async () => {
    const { ws } = await joinAsGuest('Ann');
    act(() => {
      ws.receive({ type: 'history', room: 'general', has_more: false, messages: [
        { ...msg('general', 1, 'Bob', 'a'), timestamp: '2026-03-01T10:00:00Z' },
        { ...msg('general', 2, 'Bob', 'b'), timestamp: '2026-03-01T10:01:00Z' },
        { ...msg('general', 3, 'Bob', 'c'), timestamp: '2026-03-02T10:00:00Z' },
      ] });
      for (const n of ['C1', 'C2', 'C3', 'C4']) ws.receive({ type: 'join', room: 'general', username: n, timestamp: new Date().toISOString() });
    });
    expect(document.querySelectorAll('.day')).toHaveLength(2);
    expect([...document.querySelectorAll('.msg')].map((li) => li.classList.contains('grouped'))).toEqual([false, true, false]);
    const notices = [...document.querySelectorAll('.notice')].map((n) => n.textContent);
    expect(notices).toEqual(['C1, C2 and 2 others joined']);
    expect(screen.getByRole('button', { name: /People/ }).textContent).toMatch(/6/);
  });

  it('says what the connection is doing in plain words', async () => {
    const { ws } = await joinAsGuest('Ann');
    act(() => ws.drop(1001));
    expect(screen.getByRole('status').textContent).toMatch(/^The server is restarting\. Reconnecting…/);
    expect(screen.getByRole('status').textContent).not.toMatch(/1001/);
    expect(screen.getByRole('button', { name: 'Reconnect now' })).toBeTruthy();
  });

  it('puts the unread count in the title and the room list', async () => {
    const { user, ws } = await joinAsGuest('Ann');
    await user.type(screen.getByLabelText('Join or create a room'), 'other{Enter}');
    act(() => {
      location.hash = 'other';
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    act(() => {
      ws.receive({ type: 'history', room: 'other', messages: [], has_more: false });
      ws.receive({ type: 'presence', room: 'other', users: ['Ann'], count: 1 });
    });
    expect(ws.sentOfType('subscribe').map((f) => f.room)).toEqual(['general', 'other']);
    act(() => {
      ws.receive(msg('general', 1, 'Bob', 'one'));
      ws.receive(msg('general', 2, 'Bob', 'two'));
    });
    expect(document.title).toBe('(2) #other · Parley');
    const link = within(screen.getByRole('navigation', { name: 'Rooms' })).getByRole('link', { name: /#general/ });
    expect(link.textContent).toMatch(/2 unread/);
  });
});
