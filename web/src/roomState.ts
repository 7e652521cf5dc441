// What the page knows of one room, and the pure functions that change it: messages kept sorted by
// id without duplicates (history, replay, paging and live traffic overlap freely), the messages
// of this page still waiting for their echo or refused, who is here and typing, join/leave
// notices folded together, and the unread count. Never touches the DOM, the network or storage:
// every function returns a new RoomState (React compares by reference).
import type { ChatMessage } from './protocol';

export interface PendingMessage {
  clientId: string;
  content: string;
  // queued: not sent yet (no connection, or the room is not subscribed yet); sent: waiting for
  // the echo; failed: refused, with the reason, until retried or discarded.
  state: 'queued' | 'sent' | 'failed';
  reason?: string;
}

// A line in the log that is not a message: who came and went (folded into one line while
// nothing else is said), or something the page tells the reader. Placed after message `afterId`.
export interface Notice {
  key: number;
  afterId: number;
  at: number; // ms since the epoch
  joined: string[];
  left: string[];
  crowd?: { joined: number; left: number; count: number }; // a large room's presence_summary
  text?: string;
  error?: boolean;
}

export interface RoomState {
  name: string;
  messages: ChatMessage[]; // sorted by id, no duplicates
  hasMore: boolean; // older messages exist before messages[0]
  historyLoaded: boolean; // a history arrived since the page started
  loadingOlder: boolean;
  pending: PendingMessage[];
  members: string[]; // sorted
  memberCount: number;
  membersTruncated: boolean;
  typing: string[];
  notices: Notice[];
  lastRead: number | null; // the newest id read here; null: never opened on this browser
  unread: number;
  divider: number | null; // "new messages" goes after this id (set by the ChatClient: only it
  // knows whether the room is being read)
  ready: boolean; // subscribed on the current connection (its presence arrived)
  problem: string | null; // the room cannot be followed (too_many_rooms, invalid_room)
}

export type IsOwn = (m: ChatMessage) => boolean;

export function newRoom(name: string, lastRead: number | null = null, unread = 0): RoomState {
  return {
    name, messages: [], hasMore: false, historyLoaded: false, loadingOlder: false, pending: [],
    members: [], memberCount: 0, membersTruncated: false, typing: [], notices: [],
    lastRead, unread, divider: null, ready: false, problem: null,
  };
}

export const lastId = (r: RoomState): number => r.messages.at(-1)?.id ?? 0;

// `list` and `add` merged by id (an id already in `list` keeps its first copy).
export function mergeMessages(list: ChatMessage[], add: ChatMessage[]): ChatMessage[] {
  if (add.length === 0) return list;
  const sorted = add.length > 1 ? [...add].sort((a, b) => a.id - b.id) : add;
  const last = list.at(-1)?.id ?? 0;
  if (sorted[0].id > last) { // the common case: everything is newer
    const out = list.slice();
    let prev = last;
    for (const m of sorted) if (m.id > prev) { out.push(m); prev = m.id; }
    return out;
  }
  const byId = new Map<number, ChatMessage>();
  for (const m of sorted) byId.set(m.id, m);
  for (const m of list) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

// Message `id` changed by its author: new text and the edit's time. A message not loaded is left
// alone (history read later carries the change); a tombstone stays one.
export function applyEdit(r: RoomState, id: number, content: string, editedAt: string): RoomState {
  const i = r.messages.findIndex((m) => m.id === id);
  if (i < 0 || r.messages[i].deleted) return r;
  const messages = r.messages.slice();
  messages[i] = { ...messages[i], content, edited_at: editedAt };
  return { ...r, messages };
}

// Message `id` deleted: it stays in its place as a tombstone, its text gone.
export function applyDelete(r: RoomState, id: number): RoomState {
  const i = r.messages.findIndex((m) => m.id === id);
  if (i < 0 || r.messages[i].deleted) return r;
  const messages = r.messages.slice();
  const { edited_at: _, ...rest } = messages[i];
  messages[i] = { ...rest, content: '', deleted: true };
  return { ...r, messages };
}

// Messages after lastRead that someone else wrote, counting ids that are not loaded (ids have no
// gaps, so a hole before the first loaded message is that many messages).
export function countUnread(r: RoomState, isOwn: IsOwn): number {
  if (r.lastRead === null) return r.unread;
  let n = 0;
  for (let i = r.messages.length - 1; i >= 0 && r.messages[i].id > r.lastRead; i--) {
    if (!isOwn(r.messages[i])) n++;
  }
  const first = r.messages[0]?.id;
  if (first !== undefined && first - 1 > r.lastRead) n += first - 1 - r.lastRead;
  return n;
}

function withMessages(r: RoomState, messages: ChatMessage[], isOwn: IsOwn): RoomState {
  const answered = new Set(messages.filter(isOwn).map((m) => m.client_id));
  const pending = r.pending.some((p) => answered.has(p.clientId))
    ? r.pending.filter((p) => !answered.has(p.clientId)) : r.pending;
  let next: RoomState = { ...r, messages, pending };
  // A room never opened here starts read: what was said before the user came is not "unread".
  if (next.lastRead === null) next.lastRead = lastId(next);
  next.unread = countUnread(next, isOwn);
  return next;
}

// A live message: also ends its writer's typing, and the join/leave notice it follows.
export function addLive(r: RoomState, m: ChatMessage, isOwn: IsOwn): RoomState {
  const typing = r.typing.includes(m.username) ? r.typing.filter((n) => n !== m.username) : r.typing;
  return withMessages({ ...r, typing }, mergeMessages(r.messages, [m]), isOwn);
}

// A history frame: the join history or a replay (`before` absent), or a page of older ones.
export function addHistory(r: RoomState, messages: ChatMessage[], hasMore: boolean, paged: boolean,
                           isOwn: IsOwn): RoomState {
  const fresh = r.messages.length === 0;
  const next = withMessages(r, mergeMessages(r.messages, messages), isOwn);
  next.historyLoaded = true;
  // A join history or a page says whether older ones exist; a replay (after messages the page
  // has) does not change that.
  if (paged) {
    next.loadingOlder = false;
    next.hasMore = hasMore;
  } else if (fresh) {
    next.hasMore = hasMore;
  }
  return next;
}

// More were missed than the server replays: the replay starts at firstId, so the messages kept
// from before are no longer contiguous with it. Drop them; older ones can be paged back.
export function truncateResume(r: RoomState, firstId: number, at: number, key: number): RoomState {
  const kept = r.messages.filter((m) => m.id >= firstId);
  const text = 'Some messages were missed while disconnected. Scroll up to read them.';
  return { ...r, messages: kept, hasMore: true, notices: [...r.notices, { key, afterId: firstId - 1, at, joined: [], left: [], text }] };
}

export function setPresence(r: RoomState, users: string[], count: number, truncated: boolean): RoomState {
  return { ...r, members: [...new Set(users)].sort(compareNames), memberCount: count, membersTruncated: truncated, typing: [], ready: true, problem: null };
}

const FOLD_MS = 5 * 60e3; // joins and leaves fold into one line for this long while no one speaks

// join/leave: the member list changes, and the log gets one folded line however many come.
export function addPresenceChange(r: RoomState, kind: 'join' | 'leave', name: string, at: number,
                                  key: number, showInLog: boolean): RoomState {
  let members = r.members;
  let memberCount = r.memberCount;
  let typing = r.typing;
  if (kind === 'join' && !members.includes(name)) {
    members = [...members, name].sort(compareNames);
    memberCount++;
  } else if (kind === 'leave') {
    if (members.includes(name)) {
      members = members.filter((n) => n !== name);
      memberCount = Math.max(0, memberCount - 1);
    }
    typing = typing.filter((n) => n !== name);
  }
  let notices = r.notices;
  if (showInLog) notices = foldNotice(r, (n) => {
    const joined = n.joined.filter((x) => x !== name);
    const left = n.left.filter((x) => x !== name);
    // Came and went (or went and came back) within one line: say the latest only.
    if (kind === 'join') joined.push(name);
    else left.push(name);
    return { ...n, joined, left };
  }, at, key);
  return { ...r, members, memberCount, typing, notices };
}

export function addCrowdChange(r: RoomState, count: number, joined: number, left: number, at: number, key: number): RoomState {
  const notices = foldNotice(r, (n) => {
    const c = n.crowd ?? { joined: 0, left: 0, count };
    return { ...n, crowd: { joined: c.joined + joined, left: c.left + left, count } };
  }, at, key);
  return { ...r, memberCount: count, notices };
}

// Changes the last presence line if nothing was said after it lately, else starts a new one.
function foldNotice(r: RoomState, change: (n: Notice) => Notice, at: number, key: number): Notice[] {
  const last = r.notices.at(-1);
  const after = lastId(r);
  if (last && !last.text && last.afterId === after && at - last.at < FOLD_MS) {
    return [...r.notices.slice(0, -1), change(last)];
  }
  return [...r.notices, change({ key, afterId: after, at, joined: [], left: [] })];
}

export function addNotice(r: RoomState, text: string, at: number, key: number, error = false): RoomState {
  return { ...r, notices: [...r.notices, { key, afterId: lastId(r), at, joined: [], left: [], text, error }] };
}

export function setTyping(r: RoomState, name: string, state: boolean): RoomState {
  const has = r.typing.includes(name);
  if (state === has) return r;
  return { ...r, typing: state ? [...r.typing, name].sort(compareNames) : r.typing.filter((n) => n !== name) };
}

export function markRead(r: RoomState): RoomState {
  const id = lastId(r);
  if (r.unread === 0 && r.lastRead !== null && r.lastRead >= id) return r;
  return { ...r, lastRead: Math.max(id, r.lastRead ?? 0), unread: 0 };
}

export function queueMessage(r: RoomState, clientId: string, content: string, sent: boolean): RoomState {
  return { ...r, pending: [...r.pending, { clientId, content, state: sent ? 'sent' : 'queued' }], divider: null };
}

export function setPending(r: RoomState, clientId: string, change: Partial<PendingMessage>): RoomState {
  if (!r.pending.some((p) => p.clientId === clientId)) return r;
  return { ...r, pending: r.pending.map((p) => (p.clientId === clientId ? { ...p, ...change } : p)) };
}

export function dropPending(r: RoomState, clientId: string): RoomState {
  return { ...r, pending: r.pending.filter((p) => p.clientId !== clientId) };
}

// The connection ended: presence and typing are stale, and messages sent without an echo will
// be sent again (same client_id: the server stores a retry once) when the room is back.
export function disconnected(r: RoomState): RoomState {
  return {
    ...r, ready: false, loadingOlder: false, typing: [],
    pending: r.pending.map((p) => (p.state === 'sent' ? { ...p, state: 'queued' } : p)),
  };
}

export const compareNames = (a: string, b: string): number =>
  a.localeCompare(b, undefined, { sensitivity: 'base' }) || (a < b ? -1 : a > b ? 1 : 0);
