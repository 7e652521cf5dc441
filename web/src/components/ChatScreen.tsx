// The chat: top bar (rooms drawer toggle, status, theme, account), the room list, the active
// room (log, typing line, composer) and its people. Holds only layout state (drawer, people
// panel open); everything else comes from the ChatClient.
import { useEffect, useRef, useState } from 'react';
import { roomTitle, typingLine } from '../format';
import { useChatState, useClient } from '../useChat';
import { Composer } from './Composer';
import { MessageLog } from './MessageLog';
import { PeoplePanel } from './PeoplePanel';
import { RoomMembers } from './RoomMembers';
import { RoomSidebar } from './RoomSidebar';
import { StatusBanner } from './StatusBanner';
import { ThemeToggle } from './ThemeToggle';

const narrow = () => typeof matchMedia === 'function' && matchMedia('(max-width: 760px)').matches;

export function ChatScreen() {
  const client = useClient();
  const state = useChatState();
  const [drawer, setDrawer] = useState(false);
  const [people, setPeople] = useState(() => !narrow());
  const toggle = useRef<HTMLButtonElement>(null);
  const room = state.active ? state.rooms[state.active] : undefined;
  const self = state.user?.name ?? '';
  const totalUnread = state.joined.reduce((n, r) => n + (state.rooms[r]?.unread ?? 0), 0);

  useEffect(() => {
    if (!drawer) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setDrawer(false);
        toggle.current?.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    document.querySelector<HTMLElement>('#rooms a, #rooms input')?.focus();
    return () => document.removeEventListener('keydown', onKey);
  }, [drawer]);

  return (
    <div className="app" data-drawer={drawer}>
      <header className="topbar">
        <button ref={toggle} type="button" className="drawer-toggle" aria-expanded={drawer} aria-controls="rooms"
                onClick={() => setDrawer(!drawer)}>
          Rooms{totalUnread > 0 && <span className="unread">{totalUnread}<span className="sr-only"> unread</span></span>}
        </button>
        <h1>Parley</h1>
        <ThemeToggle />
        <div className="account">
          <span className="who" dir="auto">
            {state.user?.account ? 'Signed in as ' : 'Guest: '}<strong>{self}</strong>
          </span>
          <button type="button" className="secondary" onClick={() => client.signOut()}>
            {state.user?.account ? 'Sign out' : 'Sign in'}
          </button>
        </div>
      </header>
      <StatusBanner status={state.status} onReconnect={() => client.reconnectNow()} />
      <RoomSidebar open={drawer} onNavigate={() => setDrawer(false)} />
      {drawer && <div className="scrim" onClick={() => setDrawer(false)} aria-hidden="true" />}
      {room ? (
        <>
          <main className="room" aria-labelledby="room-title">
            <div className="room-head">
              <h2 id="room-title">{roomTitle(room.name, state.directory)}</h2>
              <button type="button" className="link-button" onClick={() => client.leaveRoom(room.name)}>Leave room</button>
            </div>
            {room.problem && <p className="message error" role="alert">{room.problem}</p>}
            <MessageLog key={`log-${room.name}`} room={room} self={self} />
            <p className="typing" aria-hidden={room.typing.length === 0}>{typingLine(room.typing)}</p>
            <Composer key={`composer-${room.name}`} room={room.name} disabled={!!room.problem} />
          </main>
          <PeoplePanel room={room} self={self} open={people} onToggle={() => setPeople(!people)}>
            {state.user?.account && <RoomMembers key={`members-${room.name}`} room={room.name} self={self} />}
          </PeoplePanel>
        </>
      ) : (
        <main className="room empty"><p>Join a room from the list.</p></main>
      )}
      <div role="log" aria-label="New messages" className="sr-only">
        {state.announcements.map((a) => <p key={a.key}>{a.text}</p>)}
      </div>
    </div>
  );
}
