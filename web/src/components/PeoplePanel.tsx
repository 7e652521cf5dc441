// Who is in the room: a count and a list named "People" that scrolls on its own and can be
// collapsed, so that a room of hundreds never pushes into the message log. Never lists more than
// the server sent (a large room's presence is capped: the count says how many in all).
import { type ReactNode, useId } from 'react';
import type { RoomState } from '../roomState';

// `children`: what follows the list (a registered room's members and bans: RoomMembers).
export function PeoplePanel({ room, self, open, onToggle, children }: {
  room: RoomState; self: string; open: boolean; onToggle: () => void; children?: ReactNode;
}) {
  const id = useId();
  const hidden = room.memberCount - room.members.length;
  return (
    <aside className="people" aria-labelledby={`${id}-h`} data-open={open}>
      <h2 id={`${id}-h`}>
        <button type="button" aria-expanded={open} aria-controls={`${id}-list`} onClick={onToggle} className="people-toggle">
          <span className="arrow" aria-hidden="true">{open ? '▾' : '▸'}</span>People <span className="count">{room.ready ? room.memberCount : '–'}</span>
        </button>
      </h2>
      <div id={`${id}-list`} className="people-body" hidden={!open}>
        <ul aria-label="People" className="people-list">
          {room.members.map((name) => (
            <li key={name} dir="auto">
              {name}{name === self && <span className="you"> (you)</span>}
              {room.typing.includes(name) && <span className="typing-dot" title="typing"><span className="sr-only"> (typing)</span></span>}
            </li>
          ))}
        </ul>
        {hidden > 0 && <p className="more">and {hidden} more</p>}
        {children}
      </div>
    </aside>
  );
}
