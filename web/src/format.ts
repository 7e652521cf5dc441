// Text helpers of the message log and the composer: clock times, day labels for the date
// separators, which messages group under one name, http(s) links found in plain text, and a
// text's length as the server counts it. Never produces HTML: links come back as parts that the
// view renders as elements with text content.
import type { ChatMessage } from './protocol';

const pad = (n: number) => String(n).padStart(2, '0');

export function clock(timestamp: string): string {
  const d = new Date(timestamp);
  if (Number.isNaN(d.getTime())) return '';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// A local calendar day, as a key that compares equal for the same day.
export function dayKey(timestamp: string): string {
  const d = new Date(timestamp);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function dayLabel(timestamp: string, now = new Date()): string {
  const d = new Date(timestamp);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const that = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const days = Math.round((today.getTime() - that.getTime()) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return d.toLocaleDateString(undefined, {
    weekday: 'long', day: 'numeric', month: 'long',
    ...(d.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }),
  });
}

const GROUP_MS = 5 * 60e3;

// `m` continues `prev`'s group: same sender, same day, within five minutes.
export function continues(prev: ChatMessage | undefined, m: ChatMessage): boolean {
  if (!prev || prev.username !== m.username) return false;
  const a = Date.parse(prev.timestamp);
  const b = Date.parse(m.timestamp);
  return !Number.isNaN(a) && !Number.isNaN(b) && b - a < GROUP_MS && b >= a && dayKey(prev.timestamp) === dayKey(m.timestamp);
}

export type TextPart = { text: string; href?: string };

const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;

// Splits text into plain parts and http(s) links. Punctuation that ends a sentence is not part
// of the link, nor is a closing bracket that the link did not open.
export function linkify(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let at = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    for (;;) {
      const last = url.at(-1) ?? '';
      if (/[.,;:!?'*]/.test(last)) url = url.slice(0, -1);
      else if (last === ')' && count(url, '(') < count(url, ')')) url = url.slice(0, -1);
      else if (last === ']' && count(url, '[') < count(url, ']')) url = url.slice(0, -1);
      else break;
    }
    const start = match.index;
    if (url.length <= 'https://'.length) continue;
    if (start > at) parts.push({ text: text.slice(at, start) });
    parts.push({ text: url, href: url });
    at = start + url.length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}

const count = (s: string, c: string) => s.split(c).length - 1;

export function typingLine(names: string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`;
}

// "Alice joined", "Alice, Bob and 3 others joined", for a folded presence line.
export function namesLine(names: string[], verb: string): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} ${verb}`;
  if (names.length <= 3) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} ${verb}`;
  return `${names.slice(0, 2).join(', ')} and ${names.length - 2} others ${verb}`;
}

// Length as the server counts it (--max-content): Unicode code points, not UTF-16 units.
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// "#team", or "@Bob" for a direct-message room (the other person, as the room list names them).
export function roomTitle(name: string, directory: { room: string; with?: string }[]): string {
  const other = directory.find((d) => d.room === name)?.with;
  return other ? `@${other}` : `#${name}`;
}
