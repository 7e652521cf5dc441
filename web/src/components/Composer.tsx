// The message box: several lines (Enter sends, Shift+Enter breaks the line), a length counter,
// and typing notices for the others. What is sent shows in the log as pending until its echo;
// the box is emptied at once (the text lives on in the pending line). Keeps a draft per room.
// Never sends more than the server's limit: the counter says so first.
import { type FormEvent, type KeyboardEvent, useLayoutEffect, useRef, useState } from 'react';
import { MAX_CONTENT } from '../ChatClient';
import { codePoints } from '../format';
import { useClient } from '../useChat';

const drafts = new Map<string, string>();

export function Composer({ room, disabled }: { room: string; disabled?: boolean }) {
  const client = useClient();
  const [text, setText] = useState(() => drafts.get(room) ?? '');
  const box = useRef<HTMLTextAreaElement>(null);
  const length = codePoints(text);
  const over = length > MAX_CONTENT;
  const empty = text.trim() === '';

  useLayoutEffect(() => { // grow with the text, up to the style sheet's max-height
    const el = box.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${el.scrollHeight + 2}px`;
  }, [text]);

  const change = (value: string) => {
    setText(value);
    drafts.set(room, value);
    client.typed(room, value !== '');
  };

  const send = (e?: FormEvent) => {
    e?.preventDefault();
    if (empty || over || disabled) return;
    if (client.send(room, text)) change('');
    box.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };

  return (
    <form className="composer" onSubmit={send}>
      <label htmlFor="composer-input" className="composer-label">Message</label>
      <div className="composer-row">
        <textarea id="composer-input" ref={box} rows={1} dir="auto" value={text} disabled={disabled}
                  placeholder={`Message #${room}`} aria-describedby="composer-count composer-hint"
                  aria-invalid={over || undefined}
                  onChange={(e) => change(e.target.value)} onKeyDown={onKeyDown} />
        <button type="submit" disabled={disabled || empty || over}>Send</button>
      </div>
      <div className="composer-foot">
        <span id="composer-hint" className="hint">Enter sends, Shift+Enter adds a line</span>
        <span id="composer-count" className={over ? 'count over' : 'count'}>
          {over ? `${length - MAX_CONTENT} too many: ` : ''}{length} / {MAX_CONTENT}
        </span>
      </div>
    </form>
  );
}
