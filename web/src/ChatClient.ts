// The page's one source of truth: who the user is (account or guest), the connection's state in
// plain words, every joined room (roomState.ts), the room list from /api/rooms; and the actions
// the screens call (sign in, open a room, send, retry, page back...). React reads it through
// subscribe()/getState() (useSyncExternalStore); each change makes a new state object.
// Never renders and never touches the DOM beyond storage and fetch: App.tsx owns the page.
import { Connection, type CloseInfo, type LinkState } from './Connection';
import { reconnectDelay } from './backoff';
import { codePoints } from './format';
import { describeLink, type Status } from './linkStatus';
import { Prefs, type ReadMark } from './Prefs';
import { type AccountReply, type ChatMessage, isRoomName, parseRoomList, type RoomSummary, type ServerFrame } from './protocol';
import * as R from './roomState';
import { RoomsApi } from './roomsApi';
import { type Session, SessionKeeper, sessionFromReply } from './session';

export interface Announcement {
  key: number;
  text: string;
}

export interface ChatState {
  screen: 'signin' | 'chat';
  user: { name: string; account: boolean } | null;
  signInBusy: boolean;
  signInMessage: { text: string; error: boolean } | null;
  status: Status;
  rooms: Record<string, R.RoomState>;
  joined: string[];
  active: string | null;
  directory: RoomSummary[];
  announcements: Announcement[]; // live messages for screen readers (never history)
}

export const PAGE_SIZE = 50;
export const MAX_CONTENT = 4000; // the server's default --max-content, in code points
const TYPING_REFRESH_MS = 3000; // the server forgets a typing true after 6 s
const DIRECTORY_EVERY_MS = 30_000;
const DEFAULT_ROOM = 'general';
const AUTO_RETRIES = 5; // cluster_unavailable: sent again by itself this many times
const QUIET_ROOM_MEMBERS = 50; // above this many people, joins and leaves get no line in the log

export interface ChatClientOptions {
  prefs?: Prefs;
  makeSocket?: (url: string) => WebSocket;
  fetch?: typeof fetch;
  location?: { protocol: string; host: string };
  now?: () => number;
  random?: () => number;
  target?: Window;
}

const REASONS: Record<string, string> = {
  rate_limited: 'Not sent: too many messages at once.',
  store_unavailable: 'Not sent: the server could not store it.',
  cluster_unavailable: 'Not sent: the servers could not take it just now.',
  content_too_long: 'Not sent: too long for the server.',
  empty_content: 'Not sent: the message is empty.',
};

const CHANGE_REASONS: Record<string, string> = {
  not_found: 'the message is gone.',
  not_allowed: 'only your own messages, while signed in.',
  no_store: 'this server keeps no messages.',
  store_unavailable: 'the server could not store the change; try again.',
  rate_limited: 'too many changes at once.',
};

export class ChatClient {
  private state: ChatState;
  private readonly listeners = new Set<() => void>();
  private readonly prefs: Prefs;
  private readonly conn: Connection;
  private readonly sessions: SessionKeeper;
  private readonly fetcher: typeof fetch;
  private readonly loc: { protocol: string; host: string };
  private readonly now: () => number;
  private guestName: string | null;
  private ownIds: Set<string>;
  private ownList: string[];
  private readonly browserTag: string;
  private idCounter = 0;
  private readonly random: () => number;
  private readonly autoRetries = new Map<string, number>(); // client_id -> automatic resends
  private noticeKey = 0;
  private reading = false; // the active room's newest message is on screen
  private typingSentAt = new Map<string, number>();
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private directoryTimer: ReturnType<typeof setInterval> | undefined;
  private stopReason: string | null = null;
  // Registered rooms (private rooms, direct messages, members, bans), as the signed-in user.
  readonly roomsApi: RoomsApi;

  constructor(opts: ChatClientOptions = {}) {
    this.prefs = opts.prefs ?? new Prefs();
    this.fetcher = opts.fetch ?? ((...a) => fetch(...a));
    this.loc = opts.location ?? window.location;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.browserTag = this.prefs.browserTag();
    this.ownList = this.prefs.ownIds();
    this.ownIds = new Set(this.ownList);
    this.guestName = this.prefs.guest();
    const marks = this.prefs.readMarks();
    const joined = this.prefs.rooms().filter(isRoomName);
    const rooms: Record<string, R.RoomState> = {};
    for (const name of joined) rooms[name] = R.newRoom(name, marks[name]?.lastRead ?? null, marks[name]?.unread ?? 0);
    this.state = {
      screen: 'signin', user: null, signInBusy: false, signInMessage: null,
      status: { state: 'idle', text: 'Not connected.' },
      rooms, joined, active: joined[0] ?? null, directory: [], announcements: [],
    };
    this.sessions = new SessionKeeper({
      changed: (s) => this.update({ user: this.userOf(s) }),
      inUse: () => this.conn.isOpen,
      expired: () => this.signedOut('Your session expired. Please sign in again.'),
      renewed: (_old, next) => {
        this.conn.send({ type: 'auth', token: next.token });
      },
    });
    this.roomsApi = new RoomsApi(this.fetcher, () => this.sessions.current?.token ?? null);
    this.conn = new Connection({
      url: () => this.socketUrl(),
      opened: () => this.opened(),
      frame: (f) => this.onFrame(f),
      closed: (info) => this.onClosed(info),
      state: (s) => this.onLinkState(s),
    }, { makeSocket: opts.makeSocket, random: opts.random, now: opts.now, target: opts.target });
  }

  // --- for React -----------------------------------------------------------------------------
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
  getState = (): ChatState => this.state;

  // --- start and identity --------------------------------------------------------------------
  // Signed in before (this tab, or kept), or a guest before: straight to the chat.
  start(room?: string | null): void {
    if (room && isRoomName(room)) this.openRoom(room);
    const s = this.sessions.restore();
    if (s || this.guestName !== null) this.enterChat();
    else this.update({ user: null, screen: 'signin' });
  }

  dispose(): void {
    this.conn.dispose();
    clearInterval(this.directoryTimer);
    this.flushSave();
  }

  // POST /api/login or /api/register; on success, into the chat with the account's token.
  async signIn(kind: 'login' | 'register', username: string, password: string, keep: boolean): Promise<void> {
    const verb = kind === 'register' ? 'register' : 'sign in';
    if (!username.trim() || !password) {
      this.update({ signInMessage: { text: `Enter a name and a password to ${verb}.`, error: true } });
      return;
    }
    this.update({ signInBusy: true, signInMessage: null });
    let reply: Response;
    let body: AccountReply | null;
    try {
      reply = await this.fetcher(`/api/${kind}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, cache: 'no-store',
        body: JSON.stringify({ username: username.trim(), password }),
      });
      body = (await reply.json().catch(() => null)) as AccountReply | null;
    } catch {
      this.update({ signInBusy: false, signInMessage: { text: `Could not ${verb}: the server cannot be reached.`, error: true } });
      return;
    }
    const session = reply.ok ? sessionFromReply(body, keep, this.now()) : null;
    if (!session) {
      let why = typeof body?.message === 'string' ? body.message : `HTTP ${reply.status}`;
      const retry = reply.headers.get('Retry-After');
      if (retry && (reply.status === 429 || reply.status === 503)) why += ` (try again in ${retry} s)`;
      this.update({ signInBusy: false, signInMessage: { text: `Could not ${verb}: ${why}`, error: true } });
      return;
    }
    this.guestName = null;
    this.prefs.setGuest(null);
    this.update({ signInBusy: false });
    this.conn.stop(); // a guest connection (if any) gives way to the account's
    this.sessions.set(session);
    this.enterChat();
  }

  continueAsGuest(name: string): void {
    this.sessions.set(null);
    this.guestName = name.trim();
    this.prefs.setGuest(this.guestName);
    this.conn.stop();
    this.enterChat();
  }

  // An account signs out; a guest goes back to the sign-in screen (to sign in, or to take
  // another name).
  signOut(): void {
    this.signedOut(this.sessions.current ? 'Signed out.' : null, false);
  }

  // Another tab renewed or ended the kept session.
  storageChanged(): void {
    const before = this.sessions.current;
    this.sessions.adoptFromStorage();
    if (before && !this.sessions.current) this.signedOut('Signed out in another tab.', false);
  }

  // --- rooms -----------------------------------------------------------------------------------
  openRoom(name: string): void {
    if (!isRoomName(name)) return;
    const s = this.state;
    if (!s.joined.includes(name)) {
      const room = s.rooms[name] ?? R.newRoom(name);
      const joined = [...s.joined, name];
      this.prefs.setRooms(joined);
      this.update({ joined, rooms: { ...s.rooms, [name]: room } });
      this.subscribeRoom(name);
    }
    if (this.state.active !== name) {
      this.reading = false;
      this.patchRoom(name, (r) => ({ ...r, divider: r.unread > 0 ? r.lastRead : null }));
      this.update({ active: name });
    }
  }

  leaveRoom(name: string): void {
    const s = this.state;
    if (!s.joined.includes(name)) return;
    this.conn.send({ type: 'unsubscribe', room: name });
    const joined = s.joined.filter((n) => n !== name);
    const rooms = { ...s.rooms };
    delete rooms[name];
    this.prefs.setRooms(joined);
    this.update({ joined, rooms, active: s.active === name ? (joined[0] ?? null) : s.active });
    this.scheduleSave();
  }

  // A new room of one's own (private: members only); on success it is opened. Answers the
  // refusal's words, or null.
  async createRoom(name: string, isPrivate: boolean): Promise<string | null> {
    const a = await this.roomsApi.create(name, isPrivate);
    if (!a.ok) return a.message;
    await this.refreshDirectory();
    this.openRoom(a.value);
    return null;
  }

  // The direct-message room with `user` (made the first time); opened on success. Answers the
  // refusal's words, or null.
  async openDirect(user: string): Promise<string | null> {
    const a = await this.roomsApi.openDirect(user);
    if (!a.ok) return a.message;
    await this.refreshDirectory();
    this.openRoom(a.value.room);
    return null;
  }

  // The reader sees the newest message of the active room (at the bottom, page visible).
  setReading(reading: boolean): void {
    this.reading = reading;
    if (reading && this.state.active) this.readActive();
  }

  loadOlder(name: string): void {
    const r = this.state.rooms[name];
    if (!r || !r.hasMore || r.loadingOlder || !r.ready || r.messages.length === 0) return;
    if (this.conn.send({ type: 'history', room: name, before: r.messages[0].id, limit: PAGE_SIZE })) {
      this.patchRoom(name, (x) => ({ ...x, loadingOlder: true }));
    }
  }

  refreshDirectory = async (): Promise<void> => {
    const token = this.sessions.current?.token;
    try {
      const r = await this.fetcher('/api/rooms', { cache: 'no-store', headers: token ? { Authorization: `Bearer ${token}` } : {} });
      if (!r.ok) return;
      this.update({ directory: parseRoomList(await r.json()) });
    } catch { /* not now: the next refresh will do */ }
  };

  reconnectNow(): void {
    if (this.state.screen === 'chat') this.conn.start();
  }

  // --- sending ---------------------------------------------------------------------------------
  send(name: string, content: string): boolean {
    const r = this.state.rooms[name];
    if (!r || !content.trim() || codePoints(content) > MAX_CONTENT) return false;
    const clientId = this.newClientId();
    const sent = r.ready && this.conn.send({ type: 'message', room: name, content, client_id: clientId });
    this.typingSentAt.delete(name); // the message ends typing on the server
    this.patchRoom(name, (x) => R.queueMessage(x, clientId, content, sent));
    return true;
  }

  // Sends a refused message again with its client_id: if it was stored after all, the server
  // does not store it twice.
  retry(name: string, clientId: string): void {
    const r = this.state.rooms[name];
    const p = r?.pending.find((x) => x.clientId === clientId);
    if (!r || !p) return;
    const sent = r.ready && this.conn.send({ type: 'message', room: name, content: p.content, client_id: clientId });
    this.patchRoom(name, (x) => R.setPending(x, clientId, { state: sent ? 'sent' : 'queued', reason: undefined }));
  }

  // Edits or deletes one's own message (only an account's: the server refuses guests, whose
  // name proves nothing). The change shows when the server's `edited`/`deleted` comes back.
  editMessage(name: string, id: number, content: string): boolean {
    const r = this.state.rooms[name];
    if (!r?.ready || !content.trim() || codePoints(content) > MAX_CONTENT) return false;
    return this.conn.send({ type: 'edit', room: name, id, content });
  }

  deleteMessage(name: string, id: number): boolean {
    const r = this.state.rooms[name];
    return !!r?.ready && this.conn.send({ type: 'delete', room: name, id });
  }

  // Whether the menu offers edit and delete for `m`: a signed-in user's own live message.
  canChange = (m: ChatMessage): boolean => {
    const s = this.sessions.current;
    return !!s && !m.deleted && m.username === s.username;
  };

  discard(name: string, clientId: string): void {
    this.patchRoom(name, (x) => R.dropPending(x, clientId));
  }

  // The composer changed: typing true (refreshed every few seconds), or false once emptied.
  typed(name: string, hasText: boolean): void {
    const r = this.state.rooms[name];
    if (!r?.ready) return;
    const at = this.typingSentAt.get(name);
    const now = this.now();
    if (hasText && (at === undefined || now - at > TYPING_REFRESH_MS)) {
      if (this.conn.send({ type: 'typing', room: name, state: true })) this.typingSentAt.set(name, now);
    } else if (!hasText && at !== undefined) {
      this.conn.send({ type: 'typing', room: name, state: false });
      this.typingSentAt.delete(name);
    }
  }

  isOwn = (m: ChatMessage): boolean => {
    if (m.client_id !== undefined && this.ownIds.has(m.client_id)) return true;
    // An account's name is proven by its token: its messages from other devices are the user's
    // too. A guest's name proves nothing (two guests may share it), so guests go by client_id.
    const s = this.sessions.current;
    return !!s && m.username === s.username;
  };

  // --- internals -------------------------------------------------------------------------------
  private enterChat(): void {
    if (this.state.joined.length === 0) this.openRoom(DEFAULT_ROOM);
    if (!this.state.active) this.update({ active: this.state.joined[0] });
    this.stopReason = null;
    this.update({ screen: 'chat', signInMessage: null, user: this.userOf(this.sessions.current) });
    this.conn.start();
    void this.refreshDirectory();
    clearInterval(this.directoryTimer);
    this.directoryTimer = setInterval(() => {
      if (this.conn.isOpen) void this.refreshDirectory();
    }, DIRECTORY_EVERY_MS);
  }

  private signedOut(message: string | null, error = true): void {
    this.stopReason = message;
    this.conn.stop();
    clearInterval(this.directoryTimer);
    if (this.sessions.current) this.sessions.set(null);
    this.guestName = null;
    this.prefs.setGuest(null);
    this.clearRuntime();
    this.update({ screen: 'signin', user: null, signInBusy: false, signInMessage: message === null ? null : { text: message, error } });
  }

  private clearRuntime(): void {
    const rooms: Record<string, R.RoomState> = {};
    for (const [name, r] of Object.entries(this.state.rooms)) rooms[name] = R.newRoom(name, r.lastRead, r.unread);
    this.update({ rooms, announcements: [] });
  }

  private userOf(s: Session | null): ChatState['user'] {
    if (s) return { name: s.username, account: true };
    if (this.guestName !== null) return { name: this.guestName || 'anonymous', account: false };
    return null;
  }

  private selfName(): string {
    return this.sessions.current?.username ?? (this.guestName || 'anonymous');
  }

  private socketUrl(): string | null {
    if (this.state.screen !== 'chat') return null;
    const scheme = this.loc.protocol === 'https:' ? 'wss' : 'ws';
    const params = new URLSearchParams();
    const s = this.sessions.current;
    if (s) params.set('token', s.token);
    else if (this.guestName) params.set('username', this.guestName);
    const q = params.toString();
    return `${scheme}://${this.loc.host}/ws${q ? `?${q}` : ''}`;
  }

  private subscribeRoom(name: string): void {
    const r = this.state.rooms[name];
    const since = r ? R.lastId(r) : 0;
    this.conn.send(since > 0 ? { type: 'subscribe', room: name, since } : { type: 'subscribe', room: name });
  }

  private opened(): void {
    for (const name of this.state.joined) this.subscribeRoom(name);
    void this.refreshDirectory();
  }

  private onFrame(f: ServerFrame): void {
    const at = this.now();
    switch (f.type) {
      case 'message': {
        const r = this.state.rooms[f.room];
        if (!r) return;
        const own = this.isOwn(f);
        if (own && f.client_id !== undefined) this.autoRetries.delete(f.client_id);
        this.patchRoom(f.room, (x) => R.addLive(x, f, this.isOwn));
        if (!own && f.room === this.state.active && f.id > (r.messages.at(-1)?.id ?? 0)) {
          this.announce(`${f.username}: ${f.content}`);
        }
        if (own && f.room === this.state.active) this.readActive(); // one's own message: all above is seen
        this.afterRoomChange(f.room);
        return;
      }
      case 'history':
        this.patchRoom(f.room, (x) => R.addHistory(x, f.messages, f.has_more, f.before !== undefined, this.isOwn));
        this.afterRoomChange(f.room);
        return;
      case 'resume_truncated':
        this.patchRoom(f.room, (x) => R.truncateResume(x, f.first_id, at, ++this.noticeKey));
        return;
      case 'presence':
        this.patchRoom(f.room, (x) => R.setPresence(x, f.users, f.count, f.truncated));
        this.flushQueued(f.room);
        return;
      case 'join':
      case 'leave': {
        if (f.type === 'join' && f.username === this.selfName()) {
          this.patchRoom(f.room, (x) => R.addPresenceChange(x, 'join', f.username, at, ++this.noticeKey, false));
          return;
        }
        const t = Date.parse(f.timestamp);
        // In a busy room comings and goings are only counted (the people list), not written.
        this.patchRoom(f.room, (x) => R.addPresenceChange(x, f.type, f.username, Number.isNaN(t) ? at : t, ++this.noticeKey,
          x.memberCount <= QUIET_ROOM_MEMBERS));
        return;
      }
      case 'presence_summary':
        this.patchRoom(f.room, (x) => R.addCrowdChange(x, f.count, f.joined, f.left, at, ++this.noticeKey));
        return;
      case 'typing':
        if (f.username !== this.selfName()) this.patchRoom(f.room, (x) => R.setTyping(x, f.username, f.state));
        return;
      case 'unsubscribed':
        // The server dropped the room: the user was removed from it or banned. Kept, with the
        // reason, so the reader sees what happened; leaving it is theirs.
        if (f.code && this.state.rooms[f.room]) this.refusedRoom(f.room, f.code);
        return; // otherwise leaveRoom already forgot it
      case 'edited':
        this.patchRoom(f.room, (x) => R.applyEdit(x, f.id, f.content, f.edited_at));
        return;
      case 'deleted':
        this.patchRoom(f.room, (x) => R.applyDelete(x, f.id));
        return;
      case 'error':
        this.onError(f);
        return;
      case 'auth':
        return; // the renewal was taken; the session already holds the new token
    }
  }

  private onError(f: Extract<ServerFrame, { type: 'error' }>): void {
    const at = this.now();
    const reason = REASONS[f.code] ?? `Not sent: ${f.message || f.code}`;
    if (f.client_id !== undefined) {
      const room = f.room ?? Object.values(this.state.rooms).find((r) => r.pending.some((p) => p.clientId === f.client_id))?.name;
      if (!room) return;
      const clientId = f.client_id;
      // A cluster taking over a dead instance's rooms refuses sends for a few seconds: sent
      // again by itself (same client_id, so never stored twice), a few times, before the reader
      // is asked to.
      const tries = this.autoRetries.get(clientId) ?? 0;
      if (f.code === 'cluster_unavailable' && tries < AUTO_RETRIES) {
        this.autoRetries.set(clientId, tries + 1);
        this.patchRoom(room, (x) => R.setPending(x, clientId, { state: 'queued', reason: undefined }));
        setTimeout(() => {
          const p = this.state.rooms[room]?.pending.find((x) => x.clientId === clientId);
          if (p && p.state === 'queued') this.retry(room, clientId);
        }, reconnectDelay(tries, this.random));
        return;
      }
      this.autoRetries.delete(clientId);
      this.patchRoom(room, (x) => R.setPending(x, clientId, { state: 'failed', reason }));
      return;
    }
    const room = f.room ? this.state.rooms[f.room] : undefined;
    if (f.id !== undefined) { // an edit or delete was refused: say so where it was asked
      const target = room?.name ?? this.state.active;
      const why = CHANGE_REASONS[f.code] ?? (f.message || f.code);
      if (target) this.patchRoom(target, (x) => R.addNotice(x, `Not changed: ${why}`, at, ++this.noticeKey, true));
      return;
    }
    switch (f.code) {
      case 'already_subscribed':
        return;
      case 'not_subscribed':
        if (room && this.state.joined.includes(room.name)) this.subscribeRoom(room.name);
        return;
      case 'not_a_member':
      case 'banned':
        if (room) this.refusedRoom(room.name, f.code);
        return;
      case 'too_many_rooms':
      case 'invalid_room':
        if (room) this.patchRoom(room.name, (x) => ({ ...x, ready: false, problem: f.message || f.code }));
        return;
      case 'content_too_long':
      case 'empty_content':
      case 'invalid_message':
        // Refused before its client_id was read: the latest message sent in that room.
        if (room) {
          const last = [...room.pending].reverse().find((p) => p.state === 'sent');
          if (last) {
            this.patchRoom(room.name, (x) => R.setPending(x, last.clientId, { state: 'failed', reason }));
            return;
          }
        }
        break;
      case 'history_unavailable':
        if (room) this.patchRoom(room.name, (x) => ({ ...x, loadingOlder: false }));
        break;
    }
    const target = room?.name ?? this.state.active;
    if (target) this.patchRoom(target, (x) => R.addNotice(x, `The server said: ${f.message || f.code}`, at, ++this.noticeKey, true));
  }

  private refusedRoom(name: string, code: string): void {
    const problem = code === 'banned' ? 'You are banned from this room.' : 'This room is for its members only: you are not one (or no longer).';
    this.patchRoom(name, (x) => ({ ...x, ready: false, problem }));
  }

  private flushQueued(name: string): void {
    const r = this.state.rooms[name];
    if (!r) return;
    let sent = false;
    for (const p of r.pending) {
      if (p.state !== 'queued') continue;
      if (!this.conn.send({ type: 'message', room: name, content: p.content, client_id: p.clientId })) return;
      sent = true;
    }
    if (sent) this.patchRoom(name, (x) => ({ ...x, pending: x.pending.map((p) => (p.state === 'queued' ? { ...p, state: 'sent' } : p)) }));
  }

  private onClosed(info: CloseInfo): boolean {
    const rooms: Record<string, R.RoomState> = {};
    for (const [name, r] of Object.entries(this.state.rooms)) rooms[name] = R.disconnected(r);
    this.update({ rooms });
    this.typingSentAt.clear();
    if (info.code === 4001) { // the token expired: a reconnect with it would be refused
      this.signedOut('Your session expired. Please sign in again.');
      return false;
    }
    if (info.code === 4009) { // the application's backend disconnected this user: not on our own
      this.stopReason = 'The server disconnected you.';
      return false;
    }
    if (!info.wasOpen) void this.explainRefusal(info.url);
    return true;
  }

  // A refused upgrade reaches a WebSocket as a bare 1006. The same URL as a plain GET goes
  // through the same checks (token, auth_required, a reserved name) and says why, or answers 426
  // when it would have been taken (then the loss was passing: keep trying).
  private async explainRefusal(url: string): Promise<void> {
    let status: number;
    let body: AccountReply | null;
    try {
      const r = await this.fetcher(url.replace(/^ws/, 'http'), { cache: 'no-store', credentials: 'omit' });
      status = r.status;
      body = (await r.json().catch(() => null)) as AccountReply | null;
    } catch {
      return; // no server: the backoff goes on
    }
    if (this.conn.isOpen || this.state.screen !== 'chat' || status === 426 || typeof body?.error !== 'string') return;
    const message = typeof body.message === 'string' ? body.message : body.error;
    switch (body.error) {
      case 'auth_required':
        this.signedOut('This server requires an account: sign in or register.');
        return;
      case 'invalid_token': // e.g. a restarted server with a new key
        this.signedOut('Signed out, please sign in again.');
        return;
      case 'token_expired':
        this.signedOut('Your session expired. Please sign in again.');
        return;
      case 'username_reserved':
      case 'invalid_username':
      case 'username_mismatch':
        this.signedOut(`Could not join: ${message}`);
        return;
      default: // server_full, shutting_down...: passing; say so and keep trying
        this.update({ status: { ...this.state.status, text: `The server refused the connection: ${message}. Trying again.` } });
    }
  }

  private onLinkState(s: LinkState): void {
    this.update({ status: describeLink(s, this.stopReason, this.state.user) });
  }

  private announce(text: string): void {
    const a = [...this.state.announcements, { key: ++this.noticeKey, text }].slice(-3);
    this.update({ announcements: a });
  }

  // New messages in a room: read at once if the reader is at its end, else counted, with the
  // "new messages" divider after the last one read.
  private afterRoomChange(name: string): void {
    if (name === this.state.active && this.reading) this.readActive();
    else this.patchRoom(name, (r) => (r.unread > 0 && r.divider === null ? { ...r, divider: r.lastRead } : r));
    this.scheduleSave();
  }

  private readActive(): void {
    const name = this.state.active;
    if (!name) return;
    const r = this.state.rooms[name];
    if (!r) return;
    const next = R.markRead(r);
    if (next !== r) {
      this.patchRoom(name, () => next);
      this.scheduleSave();
    }
  }

  private patchRoom(name: string, fn: (r: R.RoomState) => R.RoomState): void {
    const r = this.state.rooms[name];
    if (!r) return;
    const next = fn(r);
    if (next !== r) this.update({ rooms: { ...this.state.rooms, [name]: next } });
  }

  private newClientId(): string {
    const id = `${this.browserTag}-${Date.now().toString(36)}-${(++this.idCounter).toString(36)}`;
    this.ownIds.add(id);
    this.ownList = this.prefs.addOwnId(id, this.ownList);
    return id;
  }

  // Read marks are written at most every 300 ms: a replay of 1,000 messages is one write.
  private scheduleSave(): void {
    if (this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => this.flushSave(), 300);
  }

  private flushSave(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const marks: Record<string, ReadMark> = {};
    for (const name of this.state.joined) {
      const r = this.state.rooms[name];
      if (r && r.lastRead !== null) marks[name] = { lastRead: r.lastRead, unread: r.unread };
    }
    this.prefs.setReadMarks(marks);
  }

  private update(change: Partial<ChatState>): void {
    this.state = { ...this.state, ...change };
    for (const l of this.listeners) l();
  }
}
