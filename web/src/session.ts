// The signed-in session: kept in localStorage ("keep me signed in": every tab of this browser,
// across restarts) or in sessionStorage (this tab only), renewed a while before its token runs
// out (POST /api/refresh), and forgotten when it expires. Never holds or sends the password.
import type { AccountReply } from './protocol';

export interface Session {
  username: string;
  token: string;
  expiresAt: number; // ms since the epoch
  lifetime?: number; // ms the token was good for when issued
  keep?: boolean; // in localStorage
}

export function isSession(v: unknown): v is Session {
  const s = v as Session | null;
  return !!s && typeof s.token === 'string' && typeof s.username === 'string' &&
    typeof s.expiresAt === 'number';
}

// A session from an account endpoint's reply, or null when the reply is not one.
export function sessionFromReply(body: AccountReply | null, keep: boolean, now = Date.now()): Session | null {
  const expiresAt = typeof body?.expires_at === 'string' ? Date.parse(body.expires_at) : NaN;
  if (typeof body?.token !== 'string' || typeof body.username !== 'string' || Number.isNaN(expiresAt)) return null;
  return { username: body.username, token: body.token, expiresAt, lifetime: expiresAt - now, keep };
}

export interface SessionHooks {
  changed(s: Session | null): void;
  inUse(s: Session): boolean; // an open connection uses it (the server closes it at expiry: 4001)
  expired(): void; // it ran out while nothing used it
  renewed(old: Session, next: Session): void; // hand the open connection the new token
}

export const SESSION_KEY = 'parley-session';
const MAX_TIMEOUT = 2 ** 31 - 1; // setTimeout's longest delay

function store(keep: boolean): Storage | null {
  try {
    return keep ? localStorage : sessionStorage;
  } catch {
    return null; // storage off: the session lasts as long as the page
  }
}

export class SessionKeeper {
  private session: Session | null = null;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly hooks: SessionHooks) {}

  get current(): Session | null {
    return this.session;
  }

  set(s: Session | null): void {
    const prev = this.session;
    this.session = s;
    try {
      // Only this tab's own session is forgotten: signing out of a kept session signs out every
      // tab that kept it (they hear the storage event); a per-tab one touches no other tab.
      if (prev && (!s || !!prev.keep !== !!s.keep)) store(!!prev.keep)?.removeItem(SESSION_KEY);
      if (s) store(!!s.keep)?.setItem(SESSION_KEY, JSON.stringify(s));
    } catch { /* full or off */ }
    this.armExpiry();
    this.armRenewal();
    this.hooks.changed(s);
  }

  // The session a reload (this tab's) or another tab (kept ones) left, if it is still good.
  restore(): Session | null {
    for (const keep of [false, true]) {
      try {
        const s: unknown = JSON.parse(store(keep)?.getItem(SESSION_KEY) || 'null');
        if (isSession(s) && s.expiresAt > Date.now()) {
          this.set({ ...s, keep });
          return this.session;
        }
      } catch { /* nothing usable */ }
    }
    return null;
  }

  // A kept session renewed (or ended) by another tab: take its newer token, or sign out too.
  adoptFromStorage(): void {
    const s = this.session;
    if (!s?.keep) return;
    let stored: unknown = null;
    try {
      stored = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    } catch { /* nothing usable */ }
    if (stored === null) {
      this.set(null);
    } else if (isSession(stored) && stored.username === s.username && stored.expiresAt > s.expiresAt) {
      const next = { ...stored, keep: true };
      this.session = next;
      this.armExpiry();
      this.armRenewal();
      this.hooks.changed(next);
      this.hooks.renewed(s, next);
    }
  }

  // False (and forgets it) when the session has run out and no connection will say so.
  check(): boolean {
    const s = this.session;
    if (!s || s.expiresAt > Date.now() || this.hooks.inUse(s)) return true;
    this.set(null);
    this.hooks.expired();
    return false;
  }

  // A page that is not connected learns of the expiry from this timer; a connected one from
  // the server's close (4001).
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    if (!this.session) return;
    const left = this.session.expiresAt - Date.now();
    this.expiryTimer = setTimeout(() => {
      if (left > MAX_TIMEOUT) this.armExpiry();
      else this.check();
    }, Math.min(Math.max(left, 0) + 500, MAX_TIMEOUT));
  }

  // A quarter of the token's life before it runs out (1 s to 5 min), the live token buys the
  // next one (POST /api/refresh), so a tab left open is not cut off with 4001. If renewing fails,
  // the token simply expires.
  private armRenewal(delayMs?: number): void {
    clearTimeout(this.renewTimer);
    if (!this.session) return;
    const left = this.session.expiresAt - Date.now();
    const lead = Math.min(5 * 60e3, Math.max(1000, (this.session.lifetime || left) / 4));
    const wait = delayMs ?? Math.max(left - lead, 0);
    if (wait >= left) return; // too late to renew: the expiry is next
    this.renewTimer = setTimeout(() => void this.renew(), Math.min(wait, MAX_TIMEOUT));
  }

  private async renew(): Promise<void> {
    const old = this.session;
    if (!old || old.expiresAt <= Date.now()) return;
    let body: AccountReply | null = null;
    try {
      const r = await fetch('/api/refresh', {
        method: 'POST', cache: 'no-store', headers: { Authorization: `Bearer ${old.token}` },
      });
      if (r.ok) body = (await r.json()) as AccountReply;
      else if (r.status === 401) return; // revoked or expired meanwhile: the expiry is next
    } catch { /* the server cannot be reached: try again shortly */ }
    if (this.session !== old) return; // signed out (or in again) meanwhile
    const next = sessionFromReply(body, !!old.keep);
    // Tokens count whole seconds: one renewed within the same second ends no later; try again.
    if (!next || next.expiresAt <= old.expiresAt || next.username !== old.username) {
      this.armRenewal(1000);
      return;
    }
    next.lifetime = old.lifetime;
    this.set(next);
    this.hooks.renewed(old, next);
  }
}
