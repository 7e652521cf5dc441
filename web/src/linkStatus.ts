// The connection's state for people: what is happening, in plain words, never a bare close code
// ("The server is restarting. Reconnecting…", not "1001"). Pure: ChatClient.ts calls it.
import type { CloseInfo, LinkState } from './Connection';

export type LinkKind = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'offline' | 'stopped';

export interface Status {
  state: LinkKind;
  text: string; // what is happening, in plain words
  retryAt?: number; // ms since the epoch, while waiting to reconnect
}

// The connection's state as a sentence a person understands (never a bare close code).
export function describeLink(s: LinkState, stopReason: string | null, user: { name: string } | null): Status {
  switch (s.kind) {
    case 'idle':
      return { state: 'idle', text: 'Not connected.' };
    case 'connecting':
      return { state: 'connecting', text: s.attempt === 0 ? 'Connecting…' : 'Reconnecting…' };
    case 'open':
      return { state: 'open', text: user ? `Connected as ${user.name}.` : 'Connected.' };
    case 'waiting':
      return { state: 'reconnecting', text: `${describeClose(s.last)} Reconnecting…`, retryAt: s.retryAt };
    case 'offline':
      return { state: 'offline', text: 'You are offline. Reconnecting when the network is back…' };
    case 'stopped':
      return { state: 'stopped', text: stopReason ?? 'Disconnected.' };
  }
}

export function describeClose(c: CloseInfo): string {
  if (!c.wasOpen) return 'Cannot reach the server.';
  switch (c.code) {
    case 1001: return 'The server is restarting.';
    case 1011: return 'The server ran into an error.';
    case 4002: return 'The connection went quiet.';
    case 4008: return 'The connection fell too far behind.';
    case 1006: return 'The connection was lost.';
    default: return 'The connection closed.';
  }
}
