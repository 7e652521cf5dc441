// How components reach the ChatClient: one per page, handed down by context, read through
// useSyncExternalStore so that a render always sees one consistent state. Holds no state itself.
import { createContext, useContext, useSyncExternalStore } from 'react';
import type { ChatClient, ChatState } from './ChatClient';

export const ClientContext = createContext<ChatClient | null>(null);

export function useClient(): ChatClient {
  const c = useContext(ClientContext);
  if (!c) throw new Error('no ChatClient above this component');
  return c;
}

export function useChatState(): ChatState {
  const c = useClient();
  return useSyncExternalStore(c.subscribe, c.getState);
}
