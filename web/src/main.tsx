// Starts the page: the theme first (no flash of the wrong colours), then the ChatClient (signed
// in before, or a guest before: straight back into the chat, at #room if the address names one)
// and React on top of it.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ChatClient } from './ChatClient';
import { App, roomFromHash } from './components/App';
import { applyTheme } from './components/ThemeToggle';
import { Prefs } from './Prefs';
import { ClientContext } from './useChat';
import './styles.css';

const prefs = new Prefs();
applyTheme(prefs.theme());
const client = new ChatClient({ prefs });
client.start(roomFromHash(location.hash));

const root = document.getElementById('root');
if (!root) throw new Error('#root is missing from index.html');
createRoot(root).render(
  <StrictMode>
    <ClientContext.Provider value={client}>
      <App />
    </ClientContext.Provider>
  </StrictMode>,
);
