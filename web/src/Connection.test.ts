import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Connection, type CloseInfo, type LinkState } from './Connection';
import { FakeSocket, makeSocket } from './test/FakeSocket';

function setup(closed: (i: CloseInfo) => boolean = () => true) {
  const states: LinkState[] = [];
  const frames: unknown[] = [];
  let opened = 0;
  const target = new EventTarget() as unknown as Window;
  Object.assign(target, { navigator: { onLine: true } });
  const c = new Connection({
    url: () => 'ws://h/ws?username=A', opened: () => { opened++; }, frame: (f) => frames.push(f),
    closed, state: (s) => states.push(s),
  }, { makeSocket, random: () => 1, target });
  return { c, states, frames, target, opened: () => opened };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => vi.useRealTimers());

describe('Connection', () => {
  it('hands on parsed frames and ignores garbage', () => {
    const { c, frames, opened } = setup();
    c.start();
    FakeSocket.last().open();
    expect(opened()).toBe(1);
    FakeSocket.last().receive({ type: 'typing', room: 'r', username: 'B', state: true });
    FakeSocket.last().onmessage?.(new MessageEvent('message', { data: '{oops' }));
    expect(frames).toEqual([{ type: 'typing', room: 'r', username: 'B', state: true }]);
  });

  it('reconnects after a loss with growing delays', () => {
    const { c, states } = setup();
    c.start();
    FakeSocket.last().open();
    FakeSocket.last().drop(1001);
    expect(states.at(-1)).toMatchObject({ kind: 'waiting', attempt: 1 });
    vi.advanceTimersByTime(499);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.last().drop(1006); // no server yet
    vi.advanceTimersByTime(999);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(3);
    FakeSocket.last().open();
    expect(c.isOpen).toBe(true);
  });

  it('goes at once when the browser is back online', () => {
    const { c, target } = setup();
    c.start();
    FakeSocket.last().open();
    vi.advanceTimersByTime(20_000);
    FakeSocket.last().drop(1006);
    FakeSocket.last(); // waiting now
    target.dispatchEvent(new Event('online'));
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('waits for the network while offline', () => {
    const { c, target, states } = setup();
    c.start();
    FakeSocket.last().open();
    (target.navigator as { onLine: boolean }).onLine = false;
    FakeSocket.last().drop(1006);
    expect(states.at(-1)?.kind).toBe('offline');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    target.dispatchEvent(new Event('online'));
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('stays closed when its owner says so', () => {
    const { c, states } = setup((i) => i.code !== 4001);
    c.start();
    FakeSocket.last().open();
    FakeSocket.last().drop(4001, 'token expired');
    expect(states.at(-1)?.kind).toBe('stopped');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('sends only while open', () => {
    const { c } = setup();
    c.start();
    expect(c.send({ type: 'subscribe', room: 'r' })).toBe(false);
    FakeSocket.last().open();
    expect(c.send({ type: 'subscribe', room: 'r' })).toBe(true);
    expect(FakeSocket.last().sent).toEqual([{ type: 'subscribe', room: 'r' }]);
  });
});
