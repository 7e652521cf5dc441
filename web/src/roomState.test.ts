import { describe, expect, it } from 'vitest';
import type { ChatMessage } from './protocol';
import * as R from './roomState';

const m = (id: number, username = 'Bob', client_id?: string): ChatMessage =>
  ({ id, room: 'r', username, content: `m${id}`, timestamp: new Date(1e12 + id * 1000).toISOString(), ...(client_id ? { client_id } : {}) });
const ids = (r: R.RoomState) => r.messages.map((x) => x.id);
const nobody: R.IsOwn = () => false;

describe('messages', () => {
  it('merges history, replay, pages and live traffic by id, each once, in order', () => {
    let r = R.addHistory(R.newRoom('r'), [m(5), m(6), m(7)], true, false, nobody);
    r = R.addLive(r, m(8), nobody);
    r = R.addHistory(r, [m(7), m(8), m(9)], false, false, nobody); // a replay overlapping
    r = R.addHistory(r, [m(3), m(4), m(5)], false, true, nobody); // a page back
    r = R.addLive(r, m(9), nobody);
    expect(ids(r)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(r.hasMore).toBe(false); // the page said so
  });
  it('a replay does not change whether older messages exist', () => {
    let r = R.addHistory(R.newRoom('r'), [m(50)], true, false, nobody);
    r = R.addHistory(r, [m(51)], false, false, nobody);
    expect(r.hasMore).toBe(true);
  });
  it('a truncated resume drops what is no longer contiguous and offers paging', () => {
    let r = R.addHistory(R.newRoom('r'), [m(1), m(2)], false, false, nobody);
    r = R.truncateResume(r, 100, 0, 1);
    expect(ids(r)).toEqual([]);
    expect(r.hasMore).toBe(true);
    expect(r.notices[0].text).toMatch(/missed/);
  });
});

describe('unread', () => {
  it('a room seen for the first time starts read', () => {
    const r = R.addHistory(R.newRoom('r'), [m(1), m(2)], false, false, nobody);
    expect(r.lastRead).toBe(2);
    expect(r.unread).toBe(0);
  });
  it('counts others\' messages after the mark, not one\'s own', () => {
    let r = R.addHistory(R.newRoom('r', 2), [m(1), m(2)], false, false, nobody);
    const own: R.IsOwn = (x) => x.client_id === 'mine';
    r = R.addLive(r, m(3), own);
    r = R.addLive(r, m(4, 'Me', 'mine'), own);
    r = R.addLive(r, m(5), own);
    expect(r.unread).toBe(2);
    r = R.markRead(r);
    expect([r.unread, r.lastRead]).toEqual([0, 5]);
  });
  it('counts the messages not loaded between the mark and the first one loaded (ids have no gaps)', () => {
    const r = R.addHistory(R.newRoom('r', 10), [m(61), m(62)], true, false, nobody);
    expect(r.unread).toBe(52);
  });
});

describe('pending', () => {
  it('the echo of a client_id ends its pending line', () => {
    const own: R.IsOwn = (x) => x.client_id === 'c1';
    let r = R.queueMessage(R.newRoom('r', 0), 'c1', 'hello', true);
    expect(r.pending).toHaveLength(1);
    r = R.addLive(r, m(1, 'Me', 'c1'), own);
    expect(r.pending).toHaveLength(0);
    expect(ids(r)).toEqual([1]);
  });
  it('a lost connection puts sent messages back in the queue, keeping refused ones', () => {
    let r = R.queueMessage(R.newRoom('r'), 'a', 'x', true);
    r = R.queueMessage(r, 'b', 'y', true);
    r = R.setPending(r, 'b', { state: 'failed', reason: 'no' });
    r = R.disconnected(r);
    expect(r.pending.map((p) => p.state)).toEqual(['queued', 'failed']);
  });
});

describe('people', () => {
  it('joins and leaves fold into one line while no one speaks', () => {
    let r = R.setPresence(R.newRoom('r'), ['B', 'A'], 2, false);
    expect(r.members).toEqual(['A', 'B']);
    for (const n of ['C', 'D', 'E']) r = R.addPresenceChange(r, 'join', n, 1000, 1, true);
    r = R.addPresenceChange(r, 'leave', 'A', 1000, 2, true);
    expect(r.notices).toHaveLength(1);
    expect(r.notices[0]).toMatchObject({ joined: ['C', 'D', 'E'], left: ['A'] });
    expect(r.memberCount).toBe(4);
    r = R.addLive(r, m(1), nobody);
    r = R.addPresenceChange(r, 'join', 'F', 2000, 3, true);
    expect(r.notices).toHaveLength(2);
  });
  it('a leave ends typing; a message ends its writer\'s typing', () => {
    let r = R.setTyping(R.setTyping(R.newRoom('r'), 'A', true), 'B', true);
    r = R.addPresenceChange(r, 'leave', 'A', 0, 1, false);
    r = R.addLive(r, m(1, 'B'), nobody);
    expect(r.typing).toEqual([]);
  });
  it('a large room\'s summaries add up in one line', () => {
    let r = R.addCrowdChange(R.newRoom('r'), 1200, 10, 1, 0, 1);
    r = R.addCrowdChange(r, 1300, 100, 0, 500, 2);
    expect(r.notices).toHaveLength(1);
    expect(r.notices[0].crowd).toEqual({ joined: 110, left: 1, count: 1300 });
    expect(r.memberCount).toBe(1300);
  });
});

describe('edits and deletes', () => {
  it('an edit replaces the text in place; a delete leaves a tombstone; neither touches others', () => {
    let r = R.addHistory(R.newRoom('r'), [m(1), m(2), m(3)], false, false, nobody);
    r = R.applyEdit(r, 2, 'fixed', 't9');
    expect(r.messages[1]).toMatchObject({ id: 2, content: 'fixed', edited_at: 't9' });
    r = R.applyDelete(r, 2);
    expect(r.messages[1]).toMatchObject({ id: 2, content: '', deleted: true });
    expect(r.messages[1].edited_at).toBeUndefined();
    expect(ids(r)).toEqual([1, 2, 3]);
    // A tombstone is not edited back; changes to messages not loaded change nothing.
    const same = R.applyEdit(r, 2, 'back', 't10');
    expect(same).toBe(r);
    expect(R.applyDelete(r, 99)).toBe(r);
    expect(R.applyEdit(r, 99, 'x', 't')).toBe(r);
    expect(r.messages[0].content).toBe('m1');
  });
});
