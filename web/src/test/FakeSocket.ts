// A WebSocket stand-in for the component tests: records what the page sends and lets a test play
// the server (open, frames, close). Only for tests; the page uses the browser's WebSocket.
export class FakeSocket {
  static all: FakeSocket[] = [];
  static last(): FakeSocket {
    const s = FakeSocket.all.at(-1);
    if (!s) throw new Error('no socket was opened');
    return s;
  }

  readyState: number = WebSocket.CONNECTING;
  sent: unknown[] = [];
  closedByPage: { code?: number; reason?: string } | null = null;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code?: number, reason?: string): void {
    this.closedByPage = { code, reason };
    this.readyState = WebSocket.CLOSED;
  }

  // --- the server's side ---
  open(): void {
    this.readyState = WebSocket.OPEN;
    this.onopen?.(new Event('open'));
  }
  receive(frame: object): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(frame) }));
  }
  drop(code = 1006, reason = ''): void {
    this.readyState = WebSocket.CLOSED;
    this.onclose?.(new CloseEvent('close', { code, reason }));
  }
  sentOfType(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => (f as { type?: string }).type === type) as Record<string, unknown>[];
  }
}

export const makeSocket = (url: string) => new FakeSocket(url) as unknown as WebSocket;

let t = Date.parse('2026-03-02T10:00:00Z');
export function msg(room: string, id: number, username: string, content: string, extra: object = {}) {
  return { type: 'message', room, id, username, content, timestamp: new Date(t + id * 1000).toISOString(), ...extra };
}
export function resetClock(): void {
  t = Date.parse('2026-03-02T10:00:00Z');
}
