// A stored message's body in the log: its text (or "Message deleted" for a tombstone), the
// "(edited)" marker, and, on one's own messages while signed in, a menu to edit or delete it.
// An edit is a small form in place of the text; nothing changes on screen until the server's
// `edited`/`deleted` frame comes back (the ChatClient applies it), so what is shown is stored.
import { useState, type KeyboardEvent } from 'react';
import type { ChatMessage } from '../protocol';
import { useClient } from '../useChat';
import { MessageText } from './MessageText';

export function MessageBody({ room, m }: { room: string; m: ChatMessage }) {
  const client = useClient();
  const [menuOpen, setMenuOpen] = useState(false);
  const [draft, setDraft] = useState<string | null>(null);
  if (m.deleted) return <p className="text tombstone">Message deleted</p>;

  const save = () => {
    if (draft === null) return;
    if (draft === m.content) return setDraft(null);
    if (client.editMessage(room, m.id, draft)) setDraft(null);
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Escape') setDraft(null);
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      save();
    }
  };
  const mine = client.canChange(m);
  return (
    <>
      {draft !== null ? (
        <form className="edit-form" onSubmit={(e) => { e.preventDefault(); save(); }}>
          <textarea aria-label="Edit message" value={draft} autoFocus rows={2}
                    onChange={(e) => setDraft(e.target.value)} onKeyDown={onKey} />
          <div className="edit-buttons">
            <button type="submit">Save</button>
            <button type="button" className="link-button" onClick={() => setDraft(null)}>Cancel</button>
          </div>
        </form>
      ) : (
        <MessageText text={m.content} />
      )}
      {m.edited_at && draft === null && (
        <span className="edited" title={`Edited ${new Date(m.edited_at).toLocaleString()}`}>(edited)</span>
      )}
      {mine && draft === null && (
        <div className="msg-actions">
          <button type="button" className="menu-button" aria-label="Message actions" aria-haspopup="menu"
                  aria-expanded={menuOpen} onClick={() => setMenuOpen(!menuOpen)}>⋯</button>
          {menuOpen && (
            <ul role="menu" aria-label="Message actions" className="menu">
              <li role="none">
                <button type="button" role="menuitem" onClick={() => { setMenuOpen(false); setDraft(m.content); }}>
                  Edit
                </button>
              </li>
              <li role="none">
                <button type="button" role="menuitem" onClick={() => { setMenuOpen(false); client.deleteMessage(room, m.id); }}>
                  Delete
                </button>
              </li>
            </ul>
          )}
        </div>
      )}
    </>
  );
}
