// One room's messages, scrolled: older pages load when the reader nears the top (the view stays
// on the same message while they are added above), new ones keep the view at the bottom when it
// was there, else "Jump to latest" offers the way down. Tells the ChatClient whether the newest
// message is on screen (that is what reads a room). Never announces anything: the hidden live
// log in ChatScreen.tsx says only what arrives live, never history.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { clock } from '../format';
import { buildLogItems, type LogItem } from '../logItems';
import type { RoomState } from '../roomState';
import { namesLine } from '../format';
import { useClient } from '../useChat';
import { MessageBody } from './MessageBody';
import { MessageText } from './MessageText';

const NEAR_TOP_PX = 400; // ask for the previous page this close to the top
const AT_BOTTOM_PX = 48;

export function MessageLog({ room, self }: { room: RoomState; self: string }) {
  const client = useClient();
  const scroller = useRef<HTMLDivElement>(null);
  const [atBottom, setAtBottom] = useState(true);
  // What the last layout left: whether the view was at the end and, to keep the reader's place
  // when older messages come in above, where the first message's text was (its name line may
  // go away: a message that now follows one of the same sender joins its group).
  const view = useRef({ firstId: 0, anchorTop: 0, stick: true, placed: false });
  const anchorTop = (el: HTMLElement, id: number) =>
    el.querySelector<HTMLElement>(`.msg[data-id="${id}"] .text`)?.getBoundingClientRect().top ?? 0;
  const items = useMemo(() => buildLogItems(room, client.isOwn), [room, client.isOwn]);

  const measure = () => {
    const el = scroller.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < AT_BOTTOM_PX;
    const v = view.current;
    v.stick = bottom;
    v.anchorTop = anchorTop(el, v.firstId);
    setAtBottom(bottom);
    client.setReading(bottom && document.visibilityState !== 'hidden');
    if (el.scrollTop < NEAR_TOP_PX) client.loadOlder(room.name);
  };

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const v = view.current;
    const firstId = room.messages[0]?.id ?? 0;
    if (!v.placed) {
      if (!room.historyLoaded) return; // nothing to place yet
      // First sight of the room: at the "new messages" divider if there is one, else the end.
      const divider = el.querySelector<HTMLElement>('.divider');
      el.scrollTop = divider ? Math.max(0, divider.offsetTop - 48) : el.scrollHeight;
      v.placed = true;
    } else if (v.firstId && firstId && firstId < v.firstId) {
      el.scrollTop += anchorTop(el, v.firstId) - v.anchorTop; // older added above: stay on the same lines
    } else if (v.stick) {
      el.scrollTop = el.scrollHeight;
    }
    v.firstId = firstId;
    measure();
    // A page that does not fill the view cannot be scrolled up: fetch the next one now.
    if (room.hasMore && el.scrollHeight <= el.clientHeight + NEAR_TOP_PX) client.loadOlder(room.name);
  });

  useEffect(() => {
    const el = scroller.current;
    const onVisible = () => measure();
    document.addEventListener('visibilitychange', onVisible);
    // The box changes size (the composer grows, the window turns): keep the end in view.
    const ro = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(() => {
      if (el && view.current.stick) el.scrollTop = el.scrollHeight;
    });
    if (el) ro?.observe(el);
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      ro?.disconnect();
      client.setReading(false);
    };
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  const jump = () => {
    const el = scroller.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    view.current.stick = true;
    measure();
  };

  return (
    <section className="log-wrap" aria-label={`Messages in #${room.name}`}>
      <div className="log-scroller" ref={scroller} onScroll={measure} tabIndex={0} data-room={room.name}>
        <div className="log-top">
          {room.hasMore ? (
            <button type="button" className="link-button" disabled={room.loadingOlder || !room.ready}
                    onClick={() => client.loadOlder(room.name)}>
              {room.loadingOlder ? 'Loading older messages…' : 'Load older messages'}
            </button>
          ) : room.historyLoaded ? (
            <p className="beginning">This is the beginning of #{room.name}.</p>
          ) : (
            <p className="beginning">Loading…</p>
          )}
        </div>
        <ol className="messages">
          {items.map((item) => <Row key={item.key} item={item} room={room.name} self={self} />)}
        </ol>
      </div>
      {!atBottom && (
        <button type="button" className="jump" onClick={jump}>
          Jump to latest{room.unread > 0 ? ` (${room.unread} new)` : ''}
        </button>
      )}
    </section>
  );
}

function Row({ item, room, self }: { item: LogItem; room: string; self: string }) {
  const client = useClient();
  switch (item.kind) {
    case 'day':
      return <li className="day"><h3>{item.label}</h3></li>;
    case 'divider':
      return <li className="divider"><span>New messages</span></li>;
    case 'notice': {
      const n = item.notice;
      let text = n.text ?? '';
      if (!n.text) {
        const parts = [namesLine(n.joined, 'joined'), namesLine(n.left, 'left')].filter(Boolean);
        if (n.crowd) parts.push(`${n.crowd.joined} joined, ${n.crowd.left} left (${n.crowd.count} here)`);
        text = parts.join('; ');
      }
      if (!text) return null;
      return <li className={n.error ? 'notice error' : 'notice'} dir="auto">{text}</li>;
    }
    case 'msg': {
      const m = item.m;
      const full = new Date(m.timestamp).toLocaleString();
      return (
        <li className={`msg${item.grouped ? ' grouped' : ''}${item.own ? ' own' : ''}`} data-id={m.id} data-user={m.username}>
          {item.grouped ? (
            <span className="sr-only">{m.username}, {clock(m.timestamp)}: </span>
          ) : (
            <div className="msg-head">
              <span className="name" dir="auto">{m.username}</span>
              {item.own && <span className="you">you</span>}
              <time dateTime={m.timestamp} title={full}>{clock(m.timestamp)}</time>
            </div>
          )}
          <MessageBody room={room} m={m} />
        </li>
      );
    }
    case 'pending': {
      const p = item.p;
      return (
        <li className={`msg own pending ${p.state}`} data-client-id={p.clientId}>
          <div className="msg-head">
            <span className="name" dir="auto">{self}</span>
            <span className="you">you</span>
            <span className="pending-state">
              {p.state === 'sent' ? 'Sending…' : p.state === 'queued' ? 'Waiting for the connection…' : 'Not sent'}
            </span>
          </div>
          <MessageText text={p.content} />
          {p.state === 'failed' && (
            <div className="refused" role="alert">
              <span className="reason">{p.reason}</span>
              <button type="button" onClick={() => client.retry(room, p.clientId)}>Retry</button>
              <button type="button" className="secondary" onClick={() => client.discard(room, p.clientId)}>Discard</button>
            </div>
          )}
        </li>
      );
    }
  }
}
