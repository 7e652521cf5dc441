import { describe, expect, it } from 'vitest';
import { isRoomName, parseRoomList, parseServerFrame } from './protocol';

describe('parseServerFrame', () => {
  it('reads a message with its room and client_id', () => {
    const f = parseServerFrame('{"type":"message","username":"A","content":"hi","timestamp":"t","id":3,"room":"r","client_id":"c1"}');
    expect(f).toEqual({ type: 'message', username: 'A', content: 'hi', timestamp: 't', id: 3, room: 'r', client_id: 'c1' });
  });
  it('gives history messages the frame\'s room and drops malformed ones', () => {
    const f = parseServerFrame(JSON.stringify({
      type: 'history', room: 'r', has_more: true, before: 10,
      messages: [{ id: 1, username: 'A', content: 'x', timestamp: 't' }, { id: 'two', username: 'B', content: 'y' }, null],
    }));
    expect(f).toEqual({ type: 'history', room: 'r', has_more: true, before: 10, messages: [{ id: 1, room: 'r', username: 'A', content: 'x', timestamp: 't' }] });
  });
  it('drops frames it cannot use', () => {
    expect(parseServerFrame('not json')).toBeNull();
    expect(parseServerFrame('[1,2]')).toBeNull();
    expect(parseServerFrame('{"type":"history","messages":[]}')).toBeNull(); // no room
    expect(parseServerFrame('{"type":"presence"}')).toBeNull();
    expect(parseServerFrame('{"type":"typing","room":"r","username":"A","state":"yes"}')).toBeNull();
    expect(parseServerFrame('{"type":"something_new","room":"r"}')).toBeNull();
  });
  it('keeps an error\'s room and client_id', () => {
    expect(parseServerFrame('{"type":"error","code":"rate_limited","message":"slow","room":"r","client_id":"c"}'))
      .toEqual({ type: 'error', code: 'rate_limited', message: 'slow', room: 'r', client_id: 'c' });
  });
  it('counts presence from the list when count is missing', () => {
    expect(parseServerFrame('{"type":"presence","room":"r","users":["A","B",3]}'))
      .toEqual({ type: 'presence', room: 'r', users: ['A', 'B'], count: 2, truncated: false });
  });
});

describe('rooms', () => {
  it('accepts the server\'s room names only', () => {
    expect(isRoomName('general')).toBe(true);
    expect(isRoomName('a.b_c~d-e')).toBe(true);
    expect(isRoomName('')).toBe(false);
    expect(isRoomName('with space')).toBe(false);
    expect(isRoomName('x'.repeat(65))).toBe(false);
  });
  it('reads /api/rooms', () => {
    expect(parseRoomList({ rooms: [{ room: 'a', members: 2, last_id: 9 }, { room: 'bad name', members: 1 }], complete: true }))
      .toEqual([{ room: 'a', members: 2, lastId: 9 }]);
    expect(parseRoomList(null)).toEqual([]);
  });
});

describe('edits and deletes', () => {
  it('reads edited and deleted frames, and an edit error\'s id', () => {
    expect(parseServerFrame('{"type":"edited","id":4,"content":"new","edited_at":"t2","room":"r"}'))
      .toEqual({ type: 'edited', id: 4, content: 'new', edited_at: 't2', room: 'r' });
    expect(parseServerFrame('{"type":"deleted","id":4,"room":"r"}')).toEqual({ type: 'deleted', id: 4, room: 'r' });
    expect(parseServerFrame('{"type":"deleted","room":"r"}')).toBeNull();
    expect(parseServerFrame('{"type":"edited","id":4,"room":"r"}')).toBeNull();
    expect(parseServerFrame('{"type":"error","code":"not_allowed","message":"m","id":4,"room":"r"}'))
      .toEqual({ type: 'error', code: 'not_allowed', message: 'm', id: 4, room: 'r' });
  });

  it('reads tombstones (their text dropped whatever it says) and edited_at in history', () => {
    const f = parseServerFrame('{"type":"history","room":"r","has_more":false,"messages":[' +
      '{"type":"message","username":"A","content":"x","timestamp":"t","id":1,"room":"r","deleted":true},' +
      '{"type":"message","username":"A","content":"y","timestamp":"t","id":2,"room":"r","edited_at":"t3"}]}');
    expect(f?.type === 'history' && f.messages).toEqual([
      { id: 1, room: 'r', username: 'A', content: '', timestamp: 't', deleted: true },
      { id: 2, room: 'r', username: 'A', content: 'y', timestamp: 't', edited_at: 't3' },
    ]);
  });
});
