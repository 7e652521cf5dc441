// The chat page: joins a room over a WebSocket, shows what arrives, sends what is typed, and
// signs in when asked. Everything received is shown with textContent: never innerHTML with data.
import { type AccountReply, type ChatMessage, isSession, type ServerFrame, type Session } from './protocol';

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}
const input = (id: string) => $<HTMLInputElement>(id);

const log = $<HTMLUListElement>('log');
const status = $('status');
const text = input('text');
const joinForm = $<HTMLFormElement>('join');
const sendButton = $<HTMLFormElement>('send').querySelector('button') as HTMLButtonElement;
const reconnectButton = $<HTMLButtonElement>('reconnect');

// The last join: the room, the name asked for and shown, and the session it used (if any).
interface Target {
  room: string;
  user: string;
  shownAs: string;
  account: Session | null;
}
let ws: WebSocket | null = null;
let target: Target | null = null;

// Signing in. The session lives in sessionStorage: it ends with the tab. The password is only
// ever sent in a POST body, never kept.
const SESSION_KEY = 'parley-session';
let session: Session | null = null;
let expiryTimer = 0;
let renewTimer = 0;
const authButtons = [
  joinForm.querySelector('button[type="submit"]') as HTMLButtonElement,
  $<HTMLButtonElement>('login'),
  $<HTMLButtonElement>('register'),
];

function setStatus(state: string, message: string): void {
  status.dataset.state = state;
  status.textContent = message;
  const open = !!ws && ws.readyState === WebSocket.OPEN;
  text.disabled = !open;
  sendButton.disabled = !open;
  // A signed-in join whose session is gone cannot be repeated: the user must sign in again.
  reconnectButton.hidden = state !== 'closed' || !target || (!!target.account && !session);
}

function renderAccount(): void {
  $('account').hidden = !session;
  $('account-name').textContent = session ? session.username : '';
  for (const id of ['password', 'login', 'register']) $(id).hidden = !!session;
  const user = input('user');
  user.readOnly = !!session; // the name is the account's: sign out to change it
  user.title = session ? 'signed in: sign out to use another name' : '';
  if (session) user.value = session.username;
}

function setSession(s: Session | null): void {
  session = s;
  try {
    if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
    else sessionStorage.removeItem(SESSION_KEY);
  } catch { /* storage off: the session lasts as long as the page */ }
  armExpiry();
  armRenewal();
  renderAccount();
}

const MAX_TIMEOUT = 2 ** 31 - 1; // setTimeout's longest delay

// Renewing: a while before the token runs out (a quarter of its life, 1 s to 5 min), the live
// token buys the next one (POST /api/refresh) and an open connection is handed it
// ({"type":"auth"}), so a tab left open is not cut off with 4001. If renewing fails, the token
// simply expires: the server closes the connection (4001) and the page says so.
function armRenewal(delayMs?: number): void {
  clearTimeout(renewTimer);
  if (!session) return;
  const left = session.expiresAt - Date.now();
  const lead = Math.min(5 * 60e3, Math.max(1000, (session.lifetime || left) / 4));
  const wait = delayMs ?? Math.max(left - lead, 0);
  if (wait >= left) return; // too late to renew: the expiry is next
  renewTimer = window.setTimeout(renew, Math.min(wait, MAX_TIMEOUT));
}

async function renew(): Promise<void> {
  const old = session;
  if (!old || old.expiresAt <= Date.now()) return;
  let body: AccountReply | null = null;
  try {
    const r = await fetch('/api/refresh', {
      method: 'POST', cache: 'no-store', headers: { Authorization: `Bearer ${old.token}` },
    });
    if (r.ok) body = (await r.json()) as AccountReply;
    else if (r.status === 401) return; // revoked or expired meanwhile: the expiry is next
  } catch { /* the server cannot be reached: try again shortly */ }
  if (session !== old) return; // signed out (or in again) meanwhile
  const expiresAt = typeof body?.expires_at === 'string' ? Date.parse(body.expires_at) : NaN;
  // Tokens count whole seconds: one renewed within the same second ends no later; try again.
  if (typeof body?.token !== 'string' || !(expiresAt > old.expiresAt)) {
    armRenewal(1000);
    return;
  }
  const next: Session = { username: old.username, token: body.token, expiresAt, lifetime: old.lifetime };
  const socket = ws;
  const handOver = !!socket && socket.readyState === WebSocket.OPEN && target?.account === old;
  if (handOver && target) target.account = next;
  setSession(next);
  if (handOver && socket) socket.send(JSON.stringify({ type: 'auth', token: next.token }));
}

// A page that is not connected learns of the expiry from this timer; a connected one from the
// server's close (4001).
function armExpiry(): void {
  clearTimeout(expiryTimer);
  if (!session) return;
  const left = session.expiresAt - Date.now();
  expiryTimer = window.setTimeout(() => {
    if (left > MAX_TIMEOUT) armExpiry();
    else checkSession();
  }, Math.min(Math.max(left, 0) + 500, MAX_TIMEOUT));
}

function sessionExpired(): void {
  setSession(null);
  setStatus('closed', 'session expired, sign in again');
}

// False (and says so) when the session has run out.
function checkSession(): boolean {
  if (!session || session.expiresAt > Date.now()) return true;
  if (ws && target && target.account === session) return true; // the server closes it (4001), and says so
  sessionExpired();
  return false;
}

interface Part {
  cls: string;
  text: string;
  title?: string;
}

function append(className: string, ...parts: (string | Part)[]): HTMLLIElement {
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

const pad = (n: number) => String(n).padStart(2, '0');
function clock(timestamp: string): string {
  const d = new Date(timestamp);
  if (Number.isNaN(d.getTime())) return String(timestamp);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// The room as this page knows it: the last message id seen (for ?since= on reconnect), who is
// here, who is typing.
let lastId = 0;
const people = new Set<string>();
const typing = new Set<string>();

function showMessage(m: ChatMessage, extraClass?: string): void {
  if (typeof m.id === 'number') {
    if (m.id <= lastId) return; // already shown (a replay after reconnect overlaps nothing, but be safe)
    lastId = m.id;
  }
  const li = append('msg' + (extraClass ? ' ' + extraClass : ''),
    '[', { cls: 'time', text: clock(m.timestamp), title: String(m.timestamp) }, '] ',
    { cls: 'name', text: String(m.username) }, ': ',
    { cls: 'content', text: String(m.content) });
  if (target && m.username === target.shownAs) li.classList.add('own');
}

function renderPeople(): void {
  $('people').textContent = people.size ? `here: ${[...people].sort().join(', ')}` : '';
}

function renderTyping(): void {
  const names = [...typing].sort();
  $('typing').textContent = names.length === 0 ? ''
    : names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
}

function forgetRoomState(): void {
  people.clear();
  typing.clear();
  renderPeople();
  renderTyping();
}

function show(data: unknown): void {
  if (!data || typeof data !== 'object') return;
  const frame = data as ServerFrame;
  switch (frame.type) {
    case 'message':
      typing.delete(frame.username);
      renderTyping();
      showMessage(frame);
      break;
    case 'history':
      if (Array.isArray(frame.messages)) for (const m of frame.messages) showMessage(m, 'history');
      break;
    case 'resume_truncated':
      append('sys', 'some older messages were skipped');
      break;
    case 'presence':
      people.clear();
      for (const u of frame.users || []) people.add(String(u));
      renderPeople();
      break;
    case 'join':
      if (!people.has(frame.username)) {
        people.add(String(frame.username));
        renderPeople();
      }
      if (!target || frame.username !== target.shownAs) append('sys', `${frame.username} joined`);
      break;
    case 'leave':
      people.delete(frame.username);
      typing.delete(frame.username);
      renderPeople();
      renderTyping();
      append('sys', `${frame.username} left`);
      break;
    case 'presence_summary':
      append('sys', `${frame.count} here (${frame.joined} joined, ${frame.left} left)`);
      break;
    case 'typing':
      if (frame.state) typing.add(String(frame.username));
      else typing.delete(frame.username);
      renderTyping();
      break;
    case 'error':
      append('error', `error ${frame.code}: ${frame.message}`);
      break;
    default:
      break; // a frame type this page does not know (or needs not show): ignored, as the protocol allows
  }
}

function connect(room: string, user: string): void {
  if (ws) {
    const old = ws;
    ws = null;
    old.close(1000, 'leaving');
  }
  // Same room again (reconnect): resume after the last message seen. Another room: start over.
  const resume = !!target && target.room === room && lastId > 0;
  if (!resume) {
    lastId = 0;
    log.replaceChildren();
  }
  forgetRoomState();
  // Signed in: the token names the user (a ?username= beside it would have to match exactly).
  const account = session;
  const joining: Target = account
    ? { room, user: account.username, shownAs: account.username, account }
    : { room, user, shownAs: user || 'anonymous', account: null };
  target = joining;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const params = new URLSearchParams();
  if (account) params.set('token', account.token);
  else if (user) params.set('username', user);
  if (resume) params.set('since', String(lastId));
  const query = params.toString() ? `?${params}` : '';
  const sock = new WebSocket(`${scheme}://${location.host}/ws/${encodeURIComponent(room)}${query}`);
  ws = sock;
  let opened = false;
  setStatus('connecting', `connecting to ${room}…`);
  sock.onopen = () => {
    if (ws !== sock) return;
    opened = true;
    setStatus('open', `connected to ${room} as ${joining.shownAs}${joining.account ? ' (signed in)' : ''}`);
    append('sys', `joined ${room} as ${joining.shownAs}`);
    text.focus();
  };
  sock.onmessage = (ev: MessageEvent<string>) => {
    if (ws !== sock) return;
    let data: unknown;
    try {
      data = JSON.parse(ev.data);
    } catch {
      append('error', 'unreadable frame from the server');
      return;
    }
    show(data);
  };
  sock.onclose = (ev: CloseEvent) => {
    if (ws !== sock) return;
    ws = null;
    const detail = ev.reason ? `${ev.code}: ${ev.reason}` : `${ev.code}`;
    forgetRoomState(); // stale once disconnected
    if (ev.code === 4001) { // the token expired: a reconnect with it would be refused
      if (account && session === account) setSession(null);
      setStatus('closed', 'session expired, sign in again');
      append('sys', `disconnected (${detail}): session expired, sign in again`);
      return;
    }
    const what = opened ? 'disconnected' : 'could not connect';
    setStatus('closed', `${what} (${detail})`);
    append('sys', `${what} (${detail})`);
    if (!opened) void explainRefusal(sock.url, joining);
  };
}

// A refused upgrade reaches a WebSocket as a bare 1006. The same URL as a plain GET goes through
// the same checks (token, auth_required, a reserved name) and answers why, or 426 when it would
// have been taken.
async function explainRefusal(url: string, refused: Target): Promise<void> {
  let reply: Response;
  let body: AccountReply | null;
  try {
    reply = await fetch(url.replace(/^ws/, 'http'), { cache: 'no-store', credentials: 'omit' });
    body = (await reply.json()) as AccountReply;
  } catch {
    return;
  }
  if (ws || target !== refused || status.dataset.state !== 'closed' || reply.status === 426 ||
      !body || typeof body.message !== 'string') return; // something newer, or no answer
  if (body.error === 'auth_required') {
    setStatus('error', 'this server requires sign-in: enter a name and a password, then Sign in (or Register)');
    if (!session) input('password').focus();
  } else if (body.error === 'token_expired' || body.error === 'invalid_token') {
    if (refused.account && session === refused.account) setSession(null);
    setStatus('error', 'session expired, sign in again');
  } else {
    setStatus('closed', `could not connect: ${body.message}`);
  }
}

function saveJoin(room: string, user: string): void {
  try {
    localStorage.setItem('parley', JSON.stringify({ room, user }));
  } catch { /* storage off */ }
}

// POST /api/login or /api/register with the form's name and password; connects on success.
async function signIn(kind: 'login' | 'register'): Promise<void> {
  if (!joinForm.reportValidity()) return;
  const room = input('room').value.trim();
  const username = input('user').value.trim();
  const password = input('password').value;
  const verb = kind === 'register' ? 'register' : 'sign in';
  if (!username || !password) {
    setStatus('error', `enter a name and a password to ${verb}`);
    input(username ? 'password' : 'user').focus();
    return;
  }
  for (const b of authButtons) b.disabled = true;
  setStatus('connecting', kind === 'register' ? 'registering…' : 'signing in…');
  let reply: Response;
  let body: AccountReply | null;
  try {
    reply = await fetch(`/api/${kind}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, cache: 'no-store',
      body: JSON.stringify({ username, password }),
    });
    body = (await reply.json().catch(() => null)) as AccountReply | null;
  } catch {
    setStatus('error', `could not ${verb}: the server cannot be reached`);
    return;
  } finally {
    for (const b of authButtons) b.disabled = false;
  }
  const expiresAt = typeof body?.expires_at === 'string' ? Date.parse(body.expires_at) : NaN;
  if (!reply.ok || typeof body?.token !== 'string' || typeof body?.username !== 'string' ||
      Number.isNaN(expiresAt)) {
    let why = typeof body?.message === 'string' ? body.message : `HTTP ${reply.status}`;
    const retry = reply.headers.get('Retry-After');
    if (retry && (reply.status === 429 || reply.status === 503)) why += ` (retry in ${retry} s)`;
    setStatus('error', `could not ${verb}: ${why}`);
    if (reply.status === 401) input('password').select();
    return;
  }
  input('password').value = '';
  setSession({ username: body.username, token: body.token, expiresAt, lifetime: expiresAt - Date.now() });
  saveJoin(room, body.username);
  connect(room, body.username);
}

joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (authButtons[0].disabled) return; // signing in already
  if (!session && input('password').value) {
    void signIn('login');
    return;
  }
  const room = input('room').value.trim();
  const user = input('user').value.trim();
  if (!room || !checkSession()) return;
  saveJoin(room, user);
  connect(room, user);
});
$('login').addEventListener('click', () => void signIn('login'));
$('register').addEventListener('click', () => void signIn('register'));
$('logout').addEventListener('click', () => {
  setSession(null);
  if (ws && target && target.account) { // a connection in the account's name ends with it
    const old = ws;
    ws = null;
    old.close(1000, 'signed out');
    forgetRoomState();
    append('sys', 'signed out');
  }
  if (!ws) setStatus('idle', 'signed out');
  input('password').focus();
});

let typingSentAt = 0; // when `true` last went out (0: not typing)
$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!ws || ws.readyState !== WebSocket.OPEN || !text.value) return;
  // client_id makes a resend after a reconnect safe: the server stores it once.
  const clientId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  ws.send(JSON.stringify({ content: text.value, client_id: clientId }));
  text.value = '';
  typingSentAt = 0; // the message ends typing on the server
});

text.addEventListener('input', () => {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const now = Date.now();
  if (text.value && now - typingSentAt > 3000) {
    ws.send(JSON.stringify({ type: 'typing', state: true })); // refreshed every 3 s; expires after 6 s
    typingSentAt = now;
  } else if (!text.value && typingSentAt) {
    ws.send(JSON.stringify({ type: 'typing', state: false }));
    typingSentAt = 0;
  }
});

reconnectButton.addEventListener('click', () => {
  if (target && checkSession()) connect(target.room, target.user);
});

try {
  const saved = JSON.parse(localStorage.getItem('parley') || 'null') as { room?: string; user?: string } | null;
  if (saved) {
    input('room').value = saved.room || 'general';
    input('user').value = saved.user || '';
  }
} catch { /* nothing saved */ }
try {
  const s: unknown = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  if (isSession(s) && s.expiresAt > Date.now()) setSession(s);
  else if (s) setSession(null);
} catch { /* storage off, or nothing usable */ }
