// The registered rooms' REST API (docs/PROTOCOL.md, "Private rooms and direct messages"): create
// a room, open a direct message, list, add and remove members, ban and lift bans. Every call
// carries the signed-in user's token and answers a value or the server's refusal (its code and
// words), never throws. Holds no state: the server decides who may do what.

export type Role = 'owner' | 'admin' | 'member';
export interface RoomMember { username: string; role: Role }
export interface RoomBan { username: string; bannedAt: string }
// `registered` false: a public room nobody registered (no members, nobody manages it).
export interface MemberList { room: string; registered: boolean; isPrivate: boolean; direct: boolean; members: RoomMember[] }
export type Answer<T> = { ok: true; value: T } | { ok: false; status: number; code: string; message: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): v is string => typeof v === 'string';
const isRole = (v: unknown): v is Role => v === 'owner' || v === 'admin' || v === 'member';

// What the page says for each refusal it expects; others show the server's own message.
const WORDS: Record<string, string> = {
  room_exists: 'That room exists already.',
  not_a_member: 'You are not a member of that room.',
  not_room_admin: 'Only the owner and admins may do that.',
  no_such_user: 'Nobody has that name.',
  user_banned: 'That person is banned from this room: lift the ban first.',
  owner_fixed: 'The owner stays the owner.',
  direct_room: 'A direct conversation stays between its two people.',
  auth_required: 'Sign in to do that.',
  invalid_room: 'Room names are 1–64 letters, digits or . _ ~ - (and not dm.…).',
};

export class RoomsApi {
  constructor(private readonly fetcher: typeof fetch, private readonly token: () => string | null) {}

  private async call(method: string, path: string, body?: unknown): Promise<Answer<Obj>> {
    const t = this.token();
    const headers: Record<string, string> = t ? { Authorization: `Bearer ${t}` } : {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      const r = await this.fetcher(path, {
        method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
      });
      let v: unknown = null;
      try { v = await r.json(); } catch { /* no JSON */ }
      const o = isObj(v) ? v : {};
      if (r.ok) return { ok: true, value: o };
      const code = str(o.error) ? o.error : `http_${r.status}`;
      return { ok: false, status: r.status, code, message: WORDS[code] ?? (str(o.message) ? o.message : code) };
    } catch {
      return { ok: false, status: 0, code: 'network', message: 'The server cannot be reached.' };
    }
  }

  private static map<T>(a: Answer<Obj>, f: (o: Obj) => T): Answer<T> {
    return a.ok ? { ok: true, value: f(a.value) } : a;
  }

  async create(room: string, isPrivate: boolean): Promise<Answer<string>> {
    const a = await this.call('POST', '/api/rooms', { room, visibility: isPrivate ? 'private' : 'public' });
    return RoomsApi.map(a, (o) => (str(o.room) ? o.room : room));
  }

  // The pair's room and the other person's name as registered.
  async openDirect(user: string): Promise<Answer<{ room: string; with: string }>> {
    const a = await this.call('POST', `/api/dm/${encodeURIComponent(user)}`);
    if (a.ok && !str(a.value.room)) return { ok: false, status: 200, code: 'bad_reply', message: 'The server answered oddly.' };
    return RoomsApi.map(a, (o) => ({ room: o.room as string, with: str(o.with) ? o.with : user }));
  }

  async members(room: string): Promise<Answer<MemberList>> {
    const a = await this.call('GET', `/api/rooms/${encodeURIComponent(room)}/members`);
    return RoomsApi.map(a, (o) => ({
      room,
      registered: o.registered !== false,
      isPrivate: o.visibility === 'private',
      direct: o.direct === true,
      members: (Array.isArray(o.members) ? o.members : [])
        .filter((m): m is { username: string; role: Role } => isObj(m) && str(m.username) && isRole(m.role))
        .map((m) => ({ username: m.username, role: m.role })),
    }));
  }

  async bans(room: string): Promise<Answer<RoomBan[]>> {
    const a = await this.call('GET', `/api/rooms/${encodeURIComponent(room)}/bans`);
    return RoomsApi.map(a, (o) => (Array.isArray(o.bans) ? o.bans : [])
      .filter((b): b is Obj => isObj(b) && str(b.username))
      .map((b) => ({ username: b.username as string, bannedAt: str(b.banned_at) ? b.banned_at : '' })));
  }

  async addMember(room: string, username: string, role: 'member' | 'admin'): Promise<Answer<Obj>> {
    return this.call('POST', `/api/rooms/${encodeURIComponent(room)}/members`, { username, role });
  }

  async removeMember(room: string, username: string): Promise<Answer<Obj>> {
    return this.call('DELETE', `/api/rooms/${encodeURIComponent(room)}/members/${encodeURIComponent(username)}`);
  }

  async ban(room: string, username: string): Promise<Answer<Obj>> {
    return this.call('POST', `/api/rooms/${encodeURIComponent(room)}/bans`, { username });
  }

  async unban(room: string, username: string): Promise<Answer<Obj>> {
    return this.call('DELETE', `/api/rooms/${encodeURIComponent(room)}/bans/${encodeURIComponent(username)}`);
  }
}
