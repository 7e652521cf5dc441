// The signed-in session: kept in sessionStorage (it ends with the tab), renewed a while before
// its token runs out, and forgotten when it expires. Never holds or sends the password.
import { type AccountReply, isSession, type Session } from './protocol';

export interface SessionHooks {
  changed(s: Session | null): void; // show who is signed in
  inUse(s: Session): boolean; // an open connection uses it (the server closes it at expiry: 4001)
  expired(): void; // it ran out while nothing used it
  renewed(old: Session, next: Session): void; // hand the open connection the new token
}

const STORAGE_KEY = 'parley-session';
const MAX_TIMEOUT = 2 ** 31 - 1; // setTimeout's longest delay

export class SessionKeeper {
  private session: Session | null = null;
  private expiryTimer = 0;
  private renewTimer = 0;

  constructor(private readonly hooks: SessionHooks) {}

  get current(): Session | null {
    return this.session;
  }

  set(s: Session | null): void {
    this.session = s;
    try {
      if (s) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
      else sessionStorage.removeItem(STORAGE_KEY);
    } catch { /* storage off: the session lasts as long as the page */ }
    this.armExpiry();
    this.armRenewal();
    this.hooks.changed(s);
  }

  // The session a reload left in sessionStorage, if it is still good.
  restore(): void {
    try {
      const s: unknown = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
      if (isSession(s) && s.expiresAt > Date.now()) this.set(s);
      else if (s) this.set(null);
    } catch { /* storage off, or nothing usable */ }
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
    this.expiryTimer = window.setTimeout(() => {
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
    this.renewTimer = window.setTimeout(() => void this.renew(), Math.min(wait, MAX_TIMEOUT));
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
    const expiresAt = typeof body?.expires_at === 'string' ? Date.parse(body.expires_at) : NaN;
    // Tokens count whole seconds: one renewed within the same second ends no later; try again.
    if (typeof body?.token !== 'string' || !(expiresAt > old.expiresAt)) {
      this.armRenewal(1000);
      return;
    }
    const next: Session = { username: old.username, token: body.token, expiresAt, lifetime: old.lifetime };
    this.set(next);
    this.hooks.renewed(old, next);
  }
}
