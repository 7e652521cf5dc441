// What this browser remembers between visits (localStorage): the rooms joined, how far each was
// read and its unread count, the guest name, the theme, and the client_ids of the messages sent
// from here (so that own messages are known by client_id, not by name). Never stores a password
// or a token (session.ts owns the token); every read tolerates storage that is off or garbled.

export type Theme = 'system' | 'light' | 'dark';

export interface ReadMark {
  lastRead: number;
  unread: number;
}

const KEYS = {
  rooms: 'parley-rooms',
  read: 'parley-read',
  guest: 'parley-guest',
  theme: 'parley-theme',
  own: 'parley-own',
  browser: 'parley-browser',
} as const;

const OWN_KEPT = 500; // client_ids remembered: a few days of one person's messages

function load(key: string): unknown {
  try {
    return JSON.parse(localStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function save(key: string, value: unknown): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch { /* full or off: remembered for this page only */ }
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export class Prefs {
  rooms(): string[] {
    return strings(load(KEYS.rooms));
  }
  setRooms(rooms: string[]): void {
    save(KEYS.rooms, rooms);
  }

  readMarks(): Record<string, ReadMark> {
    const v = load(KEYS.read);
    const out: Record<string, ReadMark> = {};
    if (!v || typeof v !== 'object') return out;
    for (const [room, m] of Object.entries(v as Record<string, unknown>)) {
      const r = m as Partial<ReadMark> | null;
      if (r && typeof r.lastRead === 'number' && typeof r.unread === 'number') out[room] = { lastRead: r.lastRead, unread: r.unread };
    }
    return out;
  }
  setReadMarks(marks: Record<string, ReadMark>): void {
    save(KEYS.read, marks);
  }

  // The name last used as a guest ('' for "anonymous"), or null: not a guest.
  guest(): string | null {
    const v = load(KEYS.guest);
    return typeof v === 'string' ? v : null;
  }
  setGuest(name: string | null): void {
    save(KEYS.guest, name);
  }

  theme(): Theme {
    const v = load(KEYS.theme);
    return v === 'light' || v === 'dark' ? v : 'system';
  }
  setTheme(t: Theme): void {
    save(KEYS.theme, t === 'system' ? null : t);
  }

  ownIds(): string[] {
    return strings(load(KEYS.own));
  }
  addOwnId(id: string, known: string[]): string[] {
    const next = [...known, id].slice(-OWN_KEPT);
    save(KEYS.own, next);
    return next;
  }

  // A random tag of this browser, the first part of every client_id it makes.
  browserTag(): string {
    const v = load(KEYS.browser);
    if (typeof v === 'string' && /^[a-z0-9]{6,16}$/.test(v)) return v;
    const tag = Math.random().toString(36).slice(2, 12).padEnd(6, '0');
    save(KEYS.browser, tag);
    return tag;
  }
}
