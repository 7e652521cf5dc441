// The wire format this client speaks (docs/PROTOCOL.md, "One WebSocket, many rooms"): the frames
// it receives on GET /ws, the frames it sends, and the replies of the account endpoints.
// Never trusts what arrives: parseServerFrame() checks every field the page uses and drops the
// rest; a frame type it does not know is ignored, as the protocol allows.

export interface ChatMessage {
  id: number;
  room: string;
  username: string;
  content: string;
  timestamp: string;
  client_id?: string;
  deleted?: true; // a tombstone: its author deleted it (content is empty)
  edited_at?: string; // edited by its author, at this time
}

export type ServerFrame =
  | ({ type: 'message' } & ChatMessage)
  | { type: 'history'; room: string; messages: ChatMessage[]; has_more: boolean; before?: number }
  | { type: 'resume_truncated'; room: string; since: number; first_id: number }
  | { type: 'presence'; room: string; users: string[]; count: number; truncated: boolean }
  | { type: 'join' | 'leave'; room: string; username: string; timestamp: string }
  | { type: 'presence_summary'; room: string; count: number; joined: number; left: number }
  | { type: 'typing'; room: string; username: string; state: boolean }
  | { type: 'unsubscribed'; room: string; code?: string }
  | { type: 'edited'; room: string; id: number; content: string; edited_at: string }
  | { type: 'deleted'; room: string; id: number }
  | { type: 'error'; room?: string; code: string; message: string; client_id?: string; id?: number }
  | { type: 'auth'; username: string; expires_at: string };

export type ClientFrame =
  | { type: 'subscribe'; room: string; since?: number }
  | { type: 'unsubscribe'; room: string }
  | { type: 'message'; room: string; content: string; client_id: string }
  | { type: 'typing'; room: string; state: boolean }
  | { type: 'history'; room: string; before: number; limit: number }
  | { type: 'edit'; room: string; id: number; content: string }
  | { type: 'delete'; room: string; id: number }
  | { type: 'auth'; token: string };

// {"username","token","expires_at"} from /api/register, /api/login and /api/refresh, or the
// {"error","message"} of a refusal.
export interface AccountReply {
  username?: unknown;
  token?: unknown;
  expires_at?: unknown;
  error?: unknown;
  message?: unknown;
}

// One entry of GET /api/rooms: `members` counts connections; a private room says so, and a
// direct-message room names the other person (`with`).
export interface RoomSummary {
  room: string;
  members: number;
  lastId: number;
  isPrivate?: boolean;
  with?: string;
}

// Room names, as the server accepts them: 1-64 of A-Z a-z 0-9 . _ ~ -, but not "." or ".."
export const ROOM_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/;
export const isRoomName = (s: string): boolean => ROOM_PATTERN.test(s) && s !== '.' && s !== '..';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): v is string => typeof v === 'string';
const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

export function parseMessage(v: unknown, room?: string): ChatMessage | null {
  if (!isObj(v) || !int(v.id) || !str(v.username) || !str(v.content)) return null;
  const r = str(v.room) ? v.room : room;
  if (!r) return null;
  const m: ChatMessage = {
    id: v.id, room: r, username: v.username, content: v.content,
    timestamp: str(v.timestamp) ? v.timestamp : '',
  };
  if (str(v.client_id)) m.client_id = v.client_id;
  if (v.deleted === true) {
    m.deleted = true;
    m.content = '';
  }
  if (str(v.edited_at)) m.edited_at = v.edited_at;
  return m;
}

// The frame in `text`, or null when it is not one this page can use.
export function parseServerFrame(text: string): ServerFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(v)) return null;
  const room = str(v.room) ? v.room : undefined;
  switch (v.type ?? 'message') {
    case 'message': {
      const m = parseMessage(v);
      return m ? { type: 'message', ...m } : null;
    }
    case 'history': {
      if (!room || !Array.isArray(v.messages)) return null;
      const messages = v.messages.map((m) => parseMessage(m, room)).filter((m): m is ChatMessage => !!m);
      const f: ServerFrame = { type: 'history', room, messages, has_more: v.has_more === true };
      if (int(v.before) && v.before > 0) f.before = v.before;
      return f;
    }
    case 'resume_truncated':
      return room && int(v.first_id)
        ? { type: 'resume_truncated', room, since: int(v.since) ? v.since : 0, first_id: v.first_id } : null;
    case 'presence': {
      if (!room) return null;
      const users = Array.isArray(v.users) ? v.users.filter(str) : [];
      return { type: 'presence', room, users, count: int(v.count) ? v.count : users.length, truncated: v.truncated === true };
    }
    case 'join':
    case 'leave':
      return room && str(v.username)
        ? { type: v.type === 'join' ? 'join' : 'leave', room, username: v.username, timestamp: str(v.timestamp) ? v.timestamp : '' }
        : null;
    case 'presence_summary':
      return room && int(v.count)
        ? { type: 'presence_summary', room, count: v.count, joined: int(v.joined) ? v.joined : 0, left: int(v.left) ? v.left : 0 }
        : null;
    case 'typing':
      return room && str(v.username) && typeof v.state === 'boolean'
        ? { type: 'typing', room, username: v.username, state: v.state } : null;
    case 'unsubscribed':
      if (!room) return null;
      return str(v.code) ? { type: 'unsubscribed', room, code: v.code } : { type: 'unsubscribed', room };
    case 'edited':
      return room && int(v.id) && str(v.content)
        ? { type: 'edited', room, id: v.id, content: v.content, edited_at: str(v.edited_at) ? v.edited_at : '' } : null;
    case 'deleted':
      return room && int(v.id) ? { type: 'deleted', room, id: v.id } : null;
    case 'error': {
      const f: ServerFrame = { type: 'error', code: str(v.code) ? v.code : 'error', message: str(v.message) ? v.message : '' };
      if (room) f.room = room;
      if (str(v.client_id)) f.client_id = v.client_id;
      if (int(v.id)) f.id = v.id;
      return f;
    }
    case 'auth':
      return str(v.username) && str(v.expires_at) ? { type: 'auth', username: v.username, expires_at: v.expires_at } : null;
    default:
      return null;
  }
}

// GET /api/rooms's body as a list; anything unusable is left out.
export function parseRoomList(v: unknown): RoomSummary[] {
  if (!isObj(v) || !Array.isArray(v.rooms)) return [];
  const out: RoomSummary[] = [];
  for (const r of v.rooms) {
    if (isObj(r) && str(r.room) && isRoomName(r.room)) {
      const s: RoomSummary = { room: r.room, members: int(r.members) ? r.members : 0, lastId: int(r.last_id) ? r.last_id : 0 };
      if (r.visibility === 'private') s.isPrivate = true;
      if (str(r.with)) s.with = r.with;
      out.push(s);
    }
  }
  return out;
}
