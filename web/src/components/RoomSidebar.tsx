// The room list (a navigation landmark named "Rooms"; a drawer on phones): the rooms joined, with
// their people and unread counts, a form to join or create one by name, and the server's other
// rooms from /api/rooms. Links are #room, so every room has a deep link. Never subscribes
// itself: opening a room goes through the hash (App.tsx) to the ChatClient.
import { type FormEvent, useState } from 'react';
import { isRoomName } from '../protocol';
import { useChatState } from '../useChat';

export function RoomSidebar({ open, onNavigate }: { open: boolean; onNavigate: () => void }) {
  const { joined, rooms, active, directory } = useChatState();
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const others = directory.filter((d) => !joined.includes(d.room));
  const countOf = (room: string) => {
    const r = rooms[room];
    if (r?.ready) return r.memberCount;
    return directory.find((d) => d.room === room)?.members;
  };

  const join = (e: FormEvent) => {
    e.preventDefault();
    const room = name.trim().replace(/^#/, '');
    if (!isRoomName(room)) {
      setError('1–64 letters, digits or . _ ~ -');
      return;
    }
    setError('');
    setName('');
    location.hash = room;
    onNavigate();
  };

  return (
    <nav id="rooms" className="sidebar" aria-label="Rooms" data-open={open}>
      <h2>Your rooms</h2>
      <ul className="room-list">
        {joined.map((room) => {
          const unread = rooms[room]?.unread ?? 0;
          const people = countOf(room);
          return (
            <li key={room}>
              <a href={`#${room}`} aria-current={room === active ? 'page' : undefined} onClick={onNavigate}
                 className={unread > 0 ? 'has-unread' : undefined} data-room={room}>
                <span className="room-name">#{room}</span>
                {people !== undefined && <span className="members" title={`${people} here`}><span className="sr-only">, </span>{people}<span className="sr-only"> here</span></span>}
                {unread > 0 && <span className="unread"><span className="sr-only">, </span>{unread}<span className="sr-only"> unread</span></span>}
              </a>
            </li>
          );
        })}
      </ul>
      <form className="join-room" onSubmit={join}>
        <label htmlFor="join-room">Join or create a room</label>
        <div className="row">
          <input id="join-room" value={name} onChange={(e) => setName(e.target.value)} maxLength={65}
                 placeholder="room-name" aria-invalid={error ? true : undefined}
                 aria-describedby={error ? 'join-room-error' : undefined} autoComplete="off" />
          <button type="submit">Join</button>
        </div>
        {error && <p id="join-room-error" className="field-error">{error}</p>}
      </form>
      {others.length > 0 && (
        <>
          <h2>More rooms</h2>
          <ul className="room-list">
            {others.map((d) => (
              <li key={d.room}>
                <a href={`#${d.room}`} onClick={onNavigate} data-room={d.room}>
                  <span className="room-name">#{d.room}</span>
                  <span className="members" title={`${d.members} connected`}><span className="sr-only">, </span>{d.members}<span className="sr-only"> connected</span></span>
                </a>
              </li>
            ))}
          </ul>
        </>
      )}
    </nav>
  );
}
