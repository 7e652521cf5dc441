// The frames this client receives and the replies of the account endpoints, as docs/PROTOCOL.md
// describes them. The server may add fields and frame types: unknown ones are ignored.

export interface ChatMessage {
  type?: 'message';
  id?: number;
  room?: string;
  username: string;
  content: string;
  timestamp: string;
  client_id?: string;
}

export type ServerFrame =
  | ({ type: 'message' } & ChatMessage)
  | { type: 'history'; messages?: ChatMessage[]; has_more?: boolean }
  | { type: 'resume_truncated' }
  | { type: 'presence'; users?: string[] }
  | { type: 'join' | 'leave'; username: string }
  | { type: 'presence_summary'; count: number; joined: number; left: number }
  | { type: 'typing'; username: string; state: boolean }
  | { type: 'error'; code: string; message: string }
  | { type: 'auth'; username: string; expires_at: string };

// {"username","token","expires_at"} from /api/register, /api/login and /api/refresh, or the
// {"error","message"} of a refusal.
export interface AccountReply {
  username?: unknown;
  token?: unknown;
  expires_at?: unknown;
  error?: unknown;
  message?: unknown;
}

// A signed-in session, kept in sessionStorage: it ends with the tab.
export interface Session {
  username: string;
  token: string;
  expiresAt: number; // ms since the epoch
  lifetime?: number; // ms the token was good for when issued
}

export function isSession(v: unknown): v is Session {
  const s = v as Session | null;
  return !!s && typeof s.token === 'string' && typeof s.username === 'string' &&
    typeof s.expiresAt === 'number';
}
