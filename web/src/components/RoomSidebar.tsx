// The room list (a navigation landmark named "Rooms"; a drawer on phones): the rooms joined, with
// their people and unread counts, a form to join or create one by name, and the server's other
// rooms from /api/rooms. Links are #room, so every room has a deep link. Never subscribes
// itself: opening a room goes through the hash (App.tsx) to the ChatClient.
import { type FormEvent, useState } from 'react';
import { roomTitle } from '../format';
import { isRoomName } from '../protocol';
import { useChatState, useClient } from '../useChat';

export function RoomSidebar({ open, onNavigate }: { open: boolean; onNavigate: () => void }) {
  const client = useClient();
  const { joined, rooms, active, directory, user } = useChatState();
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [isPrivate, setPrivate] = useState(false);
  const [busy, setBusy] = useState(false);
  const [person, setPerson] = useState('');
  const [dmError, setDmError] = useState('');
  const privateRoom = (room: string) => directory.find((d) => d.room === room)?.isPrivate === true;
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
    if (isPrivate) {
      // Made on the server first (the creator owns it); opened once it exists.
      setBusy(true);
      void client.createRoom(room, true).then((problem) => {
        setBusy(false);
        if (problem) return setError(problem);
        setName('');
        setPrivate(false);
        location.hash = room;
        onNavigate();
      });
      return;
    }
    setName('');
    location.hash = room;
    onNavigate();
  };

  const openDirect = (e: FormEvent) => {
    e.preventDefault();
    const who = person.trim();
    if (!who) return;
    setBusy(true);
    void client.openDirect(who).then((problem) => {
      setBusy(false);
      if (problem) return setDmError(problem);
      setDmError('');
      setPerson('');
      const room = client.getState().active;
      if (room) location.hash = room;
      onNavigate();
    });
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
                <span className="room-name">{roomTitle(room, directory)}</span>
                {privateRoom(room) && <span className="lock" title="private">🔒<span className="sr-only"> (private)</span></span>}
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
          <button type="submit" disabled={busy}>{isPrivate ? 'Create' : 'Join'}</button>
        </div>
        {user?.account && (
          <label className="check">
            <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} />
            New private room (members only)
          </label>
        )}
        {error && <p id="join-room-error" className="field-error">{error}</p>}
      </form>
      {user?.account && (
        <form className="join-room" onSubmit={openDirect}>
          <label htmlFor="direct-to">Message a person</label>
          <div className="row">
            <input id="direct-to" value={person} onChange={(e) => setPerson(e.target.value)} maxLength={64}
                   placeholder="name" autoComplete="off" aria-invalid={dmError ? true : undefined}
                   aria-describedby={dmError ? 'direct-to-error' : undefined} />
            <button type="submit" disabled={busy}>Open</button>
          </div>
          {dmError && <p id="direct-to-error" className="field-error">{dmError}</p>}
        </form>
      )}
      {others.length > 0 && (
        <>
          <h2>More rooms</h2>
          <ul className="room-list">
            {others.map((d) => (
              <li key={d.room}>
                <a href={`#${d.room}`} onClick={onNavigate} data-room={d.room}>
                  <span className="room-name">{roomTitle(d.room, directory)}</span>
                  {d.isPrivate && <span className="lock" title="private">🔒<span className="sr-only"> (private)</span></span>}
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
