// The page's rendering: the message log, who is here and who is typing. Everything received is
// shown with textContent, never innerHTML: a name or a message can hold any text.

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}
export const input = (id: string) => $<HTMLInputElement>(id);

interface Part {
  cls: string;
  text: string;
  title?: string;
}

const log = $<HTMLUListElement>('log');

// Adds a line to the log (kept scrolled to the bottom if it was there).
export function append(className: string, ...parts: (string | Part)[]): HTMLLIElement {
  const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  const li = document.createElement('li');
  li.className = className;
  for (const part of parts) {
    if (typeof part === 'string') {
      li.append(part);
      continue;
    }
    const span = document.createElement('span');
    span.className = part.cls;
    span.textContent = part.text;
    if (part.title) span.title = part.title;
    li.append(span);
  }
  log.append(li);
  if (stick) log.scrollTop = log.scrollHeight;
  return li;
}

export function clearLog(): void {
  log.replaceChildren();
}

const pad = (n: number) => String(n).padStart(2, '0');
function clock(timestamp: string): string {
  const d = new Date(timestamp);
  if (Number.isNaN(d.getTime())) return String(timestamp);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// One chat line; `own` marks the page's own messages.
export function appendMessage(m: { username: string; content: string; timestamp: string },
                              extraClass: string | undefined, own: boolean): void {
  const li = append('msg' + (extraClass ? ' ' + extraClass : ''),
    '[', { cls: 'time', text: clock(m.timestamp), title: String(m.timestamp) }, '] ',
    { cls: 'name', text: String(m.username) }, ': ',
    { cls: 'content', text: String(m.content) });
  if (own) li.classList.add('own');
}

// Who is in the room and who is typing, as the page last heard.
export class Roster {
  private readonly people = new Set<string>();
  private readonly typing = new Set<string>();

  has(name: string): boolean {
    return this.people.has(name);
  }
  setPeople(names: Iterable<string>): void {
    this.people.clear();
    for (const n of names) this.people.add(String(n));
    this.render();
  }
  joined(name: string): void {
    this.people.add(String(name));
    this.render();
  }
  left(name: string): void {
    this.people.delete(name);
    this.typing.delete(name);
    this.render();
  }
  setTyping(name: string, state: boolean): void {
    if (state) this.typing.add(String(name));
    else this.typing.delete(name);
    this.render();
  }
  clear(): void {
    this.people.clear();
    this.typing.clear();
    this.render();
  }

  private render(): void {
    $('people').textContent = this.people.size ? `here: ${[...this.people].sort().join(', ')}` : '';
    const names = [...this.typing].sort();
    $('typing').textContent = names.length === 0 ? ''
      : names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
  }
}
