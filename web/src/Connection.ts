// The one WebSocket (GET /ws) that carries every room: opens it, hands each parsed frame on,
// and when it is lost, opens it again after a backoff with jitter, or at once when the browser
// says it is back online. Never decides what a close means for the user (its owner does, in
// hooks.closed) and never keeps room state: on each open its owner subscribes again.
import { reconnectDelay } from './backoff';
import { type ClientFrame, parseServerFrame, type ServerFrame } from './protocol';

export interface CloseInfo {
  code: number;
  reason: string;
  wasOpen: boolean; // false: the upgrade itself failed (refused, or no server)
  url: string;
}

export type LinkState =
  | { kind: 'idle' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  | { kind: 'waiting'; attempt: number; retryAt: number; last: CloseInfo }
  | { kind: 'offline'; last: CloseInfo | null }
  | { kind: 'stopped' };

export interface ConnectionHooks {
  url(): string | null; // where to connect now (the token may have changed); null: nowhere
  opened(): void;
  frame(f: ServerFrame): void;
  closed(info: CloseInfo): boolean; // false: stay closed (the owner will say what to do)
  state(s: LinkState): void;
}

export interface ConnectionOptions {
  makeSocket?: (url: string) => WebSocket;
  random?: () => number;
  now?: () => number;
  target?: Window; // where 'online' and 'offline' are heard
}

// A connection that stayed open this long was healthy: the next loss starts the backoff over.
const STABLE_MS = 10_000;

export class Connection {
  private ws: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private openedAt = 0;
  private current: LinkState = { kind: 'idle' };
  private readonly makeSocket: (url: string) => WebSocket;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly target: Window | undefined;

  constructor(private readonly hooks: ConnectionHooks, opts: ConnectionOptions = {}) {
    this.makeSocket = opts.makeSocket ?? ((url) => new WebSocket(url));
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.target = opts.target ?? (typeof window === 'undefined' ? undefined : window);
    this.target?.addEventListener('online', this.onOnline);
    this.target?.addEventListener('offline', this.onOffline);
  }

  get state(): LinkState {
    return this.current;
  }

  get isOpen(): boolean {
    return this.current.kind === 'open';
  }

  // Connects now: the first time, after stop(), or to skip the rest of a backoff wait.
  start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ws) return; // already connecting or open
    this.open();
  }

  // Closes and stays closed until start().
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.attempt = 0;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000, 'leaving');
    }
    this.set({ kind: 'stopped' });
  }

  dispose(): void {
    this.stop();
    this.target?.removeEventListener('online', this.onOnline);
    this.target?.removeEventListener('offline', this.onOffline);
  }

  send(frame: ClientFrame): boolean {
    if (!this.ws || this.current.kind !== 'open') return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private open(): void {
    const url = this.hooks.url();
    if (!url) {
      this.set({ kind: 'idle' });
      return;
    }
    const ws = this.makeSocket(url);
    this.ws = ws;
    let wasOpen = false;
    this.set({ kind: 'connecting', attempt: this.attempt });
    ws.onopen = () => {
      if (this.ws !== ws) return;
      wasOpen = true;
      this.openedAt = this.now();
      this.set({ kind: 'open' });
      this.hooks.opened();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      const f = parseServerFrame(ev.data);
      if (f) this.hooks.frame(f);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (wasOpen && this.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
      const info: CloseInfo = { code: ev.code, reason: ev.reason, wasOpen, url };
      if (!this.hooks.closed(info)) {
        if (this.current.kind !== 'stopped') this.set({ kind: 'stopped' });
        return;
      }
      this.retryLater(info);
    };
  }

  private retryLater(last: CloseInfo): void {
    if (this.target && this.target.navigator && this.target.navigator.onLine === false) {
      this.set({ kind: 'offline', last }); // 'online' starts the next attempt
      return;
    }
    const delay = reconnectDelay(this.attempt, this.random);
    const attempt = ++this.attempt;
    this.set({ kind: 'waiting', attempt, retryAt: this.now() + delay, last });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.open();
    }, delay);
  }

  private readonly onOnline = (): void => {
    const k = this.current.kind;
    if (k === 'waiting' || k === 'offline') this.start();
  };

  private readonly onOffline = (): void => {
    if (this.current.kind === 'waiting') {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.set({ kind: 'offline', last: this.current.last });
    }
  };

  private set(s: LinkState): void {
    this.current = s;
    this.hooks.state(s);
  }
}
