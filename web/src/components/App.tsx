// The page: the sign-in screen or the chat, the tab title with the unread count, and the #room
// deep link kept in step with the open room (both ways). Owns no chat state: the ChatClient does.
import { useEffect } from 'react';
import { isRoomName } from '../protocol';
import { useChatState, useClient } from '../useChat';
import { ChatScreen } from './ChatScreen';
import { SignInScreen } from './SignInScreen';

export const roomFromHash = (hash: string): string | null => {
  let room = hash.replace(/^#/, '');
  try {
    room = decodeURIComponent(room);
  } catch { /* as it is */ }
  return isRoomName(room) ? room : null;
};

export function App() {
  const client = useClient();
  const state = useChatState();
  const total = state.joined.reduce((n, r) => n + (state.rooms[r]?.unread ?? 0), 0);

  useEffect(() => {
    const base = state.screen === 'chat' && state.active ? `#${state.active} · Parley` : 'Parley';
    document.title = total > 0 ? `(${total}) ${base}` : base;
  }, [total, state.active, state.screen]);

  useEffect(() => {
    const onHash = () => {
      const room = roomFromHash(location.hash);
      if (room) client.openRoom(room);
    };
    const onStorage = (e: StorageEvent) => {
      if (e.key === 'parley-session') client.storageChanged();
    };
    window.addEventListener('hashchange', onHash);
    window.addEventListener('storage', onStorage);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('storage', onStorage);
    };
  }, [client]);

  useEffect(() => { // the open room is the page's address
    if (state.screen === 'chat' && state.active && roomFromHash(location.hash) !== state.active) {
      history.replaceState(null, '', `#${state.active}`);
    }
  }, [state.active, state.screen]);

  return state.screen === 'chat' ? <ChatScreen /> : <SignInScreen />;
}
