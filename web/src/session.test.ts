import { describe, expect, it } from 'vitest';
import { type Session, SESSION_KEY, SessionKeeper } from './session';

const hooks = { changed: () => {}, inUse: () => false, expired: () => {}, renewed: () => {} };
const session = (token: string, keep: boolean): Session => ({ username: 'Dora', token, expiresAt: Date.now() + 3600e3, keep });

describe('SessionKeeper', () => {
  it('keeps a session where asked: localStorage for every tab, sessionStorage for this one', () => {
    const k = new SessionKeeper(hooks);
    k.set(session('kept', true));
    expect(JSON.parse(localStorage.getItem(SESSION_KEY) as string).token).toBe('kept');
    expect(sessionStorage.getItem(SESSION_KEY)).toBeNull();
    k.set(null);
    expect(localStorage.getItem(SESSION_KEY)).toBeNull();
  });

  it('a tab with its own session leaves the other tabs\' kept session alone', () => {
    localStorage.setItem(SESSION_KEY, JSON.stringify(session('kept', true)));
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session('mine', false)));
    const k = new SessionKeeper(hooks);
    expect(k.restore()?.token).toBe('mine'); // this tab's own comes first
    expect(JSON.parse(localStorage.getItem(SESSION_KEY) as string).token).toBe('kept');
    k.set(null); // signing out of this tab
    expect(JSON.parse(localStorage.getItem(SESSION_KEY) as string).token).toBe('kept');
    expect(sessionStorage.getItem(SESSION_KEY)).toBeNull();
  });

  it('a new tab takes the kept session; an expired one is not restored', () => {
    localStorage.setItem(SESSION_KEY, JSON.stringify(session('kept', true)));
    expect(new SessionKeeper(hooks).restore()?.token).toBe('kept');
    localStorage.setItem(SESSION_KEY, JSON.stringify({ ...session('old', true), expiresAt: Date.now() - 1 }));
    expect(new SessionKeeper(hooks).restore()).toBeNull();
  });

  it('takes a newer token another tab renewed, and signs out when another tab did', () => {
    const renewed: string[] = [];
    const k = new SessionKeeper({ ...hooks, renewed: (_o, n) => renewed.push(n.token) });
    k.set(session('t1', true));
    localStorage.setItem(SESSION_KEY, JSON.stringify({ ...session('t2', true), expiresAt: Date.now() + 7200e3 }));
    k.adoptFromStorage();
    expect(k.current?.token).toBe('t2');
    expect(renewed).toEqual(['t2']);
    localStorage.removeItem(SESSION_KEY);
    k.adoptFromStorage();
    expect(k.current).toBeNull();
  });
});
