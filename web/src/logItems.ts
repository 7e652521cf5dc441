// The rows of a room's log, in order: date separators, messages (grouped under one name while
// the same person goes on), the folded join/leave lines, the "new messages" divider, then this
// page's own messages still pending or refused. Pure: MessageLog.tsx renders the rows.
import { continues, dayKey, dayLabel } from './format';
import type { ChatMessage } from './protocol';
import type { IsOwn, Notice, PendingMessage, RoomState } from './roomState';

export type LogItem =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'msg'; key: string; m: ChatMessage; grouped: boolean; own: boolean }
  | { kind: 'notice'; key: string; notice: Notice }
  | { kind: 'divider'; key: string }
  | { kind: 'pending'; key: string; p: PendingMessage };

export function buildLogItems(r: RoomState, isOwn: IsOwn, now = new Date()): LogItem[] {
  const items: LogItem[] = [];
  const notices = [...r.notices].sort((a, b) => a.afterId - b.afterId);
  let ni = 0;
  let prev: ChatMessage | undefined;
  let lastDay = '';
  // The divider goes before the first message after the mark that someone else wrote.
  let dividerAt = -1;
  if (r.divider !== null) {
    dividerAt = r.messages.find((m) => m.id > (r.divider as number) && !isOwn(m))?.id ?? -1;
  }
  for (const m of r.messages) {
    while (ni < notices.length && notices[ni].afterId < m.id) {
      items.push({ kind: 'notice', key: `n${notices[ni].key}`, notice: notices[ni] });
      ni++;
      prev = undefined;
    }
    const day = dayKey(m.timestamp);
    if (day && day !== lastDay) {
      items.push({ kind: 'day', key: `d${day}`, label: dayLabel(m.timestamp, now) });
      lastDay = day;
      prev = undefined;
    }
    if (m.id === dividerAt) {
      items.push({ kind: 'divider', key: 'divider' });
      prev = undefined;
    }
    items.push({ kind: 'msg', key: `m${m.id}`, m, grouped: continues(prev, m), own: isOwn(m) });
    prev = m;
  }
  for (; ni < notices.length; ni++) items.push({ kind: 'notice', key: `n${notices[ni].key}`, notice: notices[ni] });
  for (const p of r.pending) items.push({ kind: 'pending', key: `p${p.clientId}`, p });
  return items;
}
