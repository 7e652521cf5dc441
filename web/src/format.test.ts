import { describe, expect, it } from 'vitest';
import { continues, dayLabel, linkify, namesLine, typingLine } from './format';

const m = (username: string, timestamp: string) => ({ id: 1, room: 'r', username, content: '', timestamp });

describe('linkify', () => {
  it('finds http and https links and leaves the rest as text', () => {
    expect(linkify('see https://example.com/a?b=1 and http://x.org.')).toEqual([
      { text: 'see ' }, { text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { text: ' and ' }, { text: 'http://x.org', href: 'http://x.org' }, { text: '.' },
    ]);
  });
  it('keeps brackets the link opened, not those around it', () => {
    expect(linkify('(https://en.wikipedia.org/wiki/A_(b))')).toEqual([
      { text: '(' }, { text: 'https://en.wikipedia.org/wiki/A_(b)', href: 'https://en.wikipedia.org/wiki/A_(b)' }, { text: ')' },
    ]);
  });
  it('makes no link of other schemes or markup', () => {
    expect(linkify('javascript:alert(1) <a href="https://x">')).toEqual([
      { text: 'javascript:alert(1) <a href="' }, { text: 'https://x', href: 'https://x' }, { text: '">' },
    ]);
    expect(linkify('ftp://x data:text/html,hi')).toEqual([{ text: 'ftp://x data:text/html,hi' }]);
  });
});

describe('grouping and days', () => {
  it('groups one sender within five minutes of the same day', () => {
    expect(continues(m('A', '2026-03-02T10:00:00Z'), m('A', '2026-03-02T10:04:00Z'))).toBe(true);
    expect(continues(m('A', '2026-03-02T10:00:00Z'), m('B', '2026-03-02T10:01:00Z'))).toBe(false);
    expect(continues(m('A', '2026-03-02T10:00:00Z'), m('A', '2026-03-02T10:06:00Z'))).toBe(false);
    expect(continues(undefined, m('A', '2026-03-02T10:00:00Z'))).toBe(false);
  });
  it('names today and yesterday, else the date', () => {
    const now = new Date(2026, 2, 2, 12);
    expect(dayLabel(new Date(2026, 2, 2, 1).toISOString(), now)).toBe('Today');
    expect(dayLabel(new Date(2026, 2, 1, 23).toISOString(), now)).toBe('Yesterday');
    expect(dayLabel(new Date(2026, 1, 20, 9).toISOString(), now)).toMatch(/20/);
  });
  it('says who is typing and who came in few words', () => {
    expect(typingLine(['A'])).toBe('A is typing…');
    expect(typingLine(['A', 'B', 'C', 'D'])).toBe('A, B and 2 others are typing…');
    expect(namesLine(['A', 'B'], 'joined')).toBe('A and B joined');
    expect(namesLine(['A', 'B', 'C', 'D', 'E'], 'left')).toBe('A, B and 3 others left');
  });
});
