// The chat page: joins a room over a WebSocket, shows what arrives, sends what is typed, and
// signs in when asked. Never trusts what arrives to be well formed: view.ts shows it as text.
import { type AccountReply, type ChatMessage, type ServerFrame, type Session } from './protocol';
import { SessionKeeper } from './session';
import { $, append, appendMessage, clearLog, input, Roster } from './view';

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
  reconnectButton.hidden = state !== 'closed' || !target || (!!target.account && !sessions.current);
}

function renderAccount(session: Session | null): void {
  $('account').hidden = !session;
  $('account-name').textContent = session ? session.username : '';
  for (const id of ['password', 'login', 'register']) $(id).hidden = !!session;
  const user = input('user');
  user.readOnly = !!session; // the name is the account's: sign out to change it
  user.title = session ? 'signed in: sign out to use another name' : '';
  if (session) user.value = session.username;
}

// Signing in: the session and its renewals (session.ts); the password is only ever sent in a
// POST body, never kept.
const sessions = new SessionKeeper({
  changed: renderAccount,
  inUse: (s) => !!ws && target?.account === s,
  expired: () => setStatus('closed', 'session expired, sign in again'),
  renewed: (old, next) => {
    // An open connection in the old token's name is handed the new one ({"type":"auth"}).
    if (!ws || ws.readyState !== WebSocket.OPEN || !target || target.account !== old) return;
    target.account = next;
    ws.send(JSON.stringify({ type: 'auth', token: next.token }));
  },
});

// The room as this page knows it: the last message id seen (for ?since= on reconnect), who is
// here, who is typing.
let lastId = 0;
const roster = new Roster();

function showMessage(m: ChatMessage, extraClass?: string): void {
  if (typeof m.id === 'number') {
    if (m.id <= lastId) return; // already shown (a replay after reconnect overlaps nothing, but be safe)
    lastId = m.id;
  }
  appendMessage(m, extraClass, !!target && m.username === target.shownAs);
}

function show(data: unknown): void {
  if (!data || typeof data !== 'object') return;
  const frame = data as ServerFrame;
  switch (frame.type) {
    case 'message':
      roster.setTyping(frame.username, false);
      showMessage(frame);
      break;
    case 'history':
      if (Array.isArray(frame.messages)) for (const m of frame.messages) showMessage(m, 'history');
      break;
    case 'resume_truncated':
      append('sys', 'some older messages were skipped');
      break;
    case 'presence':
      roster.setPeople(frame.users || []);
      break;
    case 'join':
      if (!roster.has(frame.username)) roster.joined(frame.username);
      if (!target || frame.username !== target.shownAs) append('sys', `${frame.username} joined`);
      break;
    case 'leave':
      roster.left(frame.username);
      append('sys', `${frame.username} left`);
      break;
    case 'presence_summary':
      append('sys', `${frame.count} here (${frame.joined} joined, ${frame.left} left)`);
      break;
    case 'typing':
      roster.setTyping(frame.username, frame.state);
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
    clearLog();
  }
  roster.clear();
  // Signed in: the token names the user (a ?username= beside it would have to match exactly).
  const account = sessions.current;
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
    roster.clear(); // stale once disconnected
    if (ev.code === 4001) { // the token expired: a reconnect with it would be refused
      if (account && sessions.current === account) sessions.set(null);
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
    if (!sessions.current) input('password').focus();
  } else if (body.error === 'token_expired' || body.error === 'invalid_token') {
    if (refused.account && sessions.current === refused.account) sessions.set(null);
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
  sessions.set({ username: body.username, token: body.token, expiresAt, lifetime: expiresAt - Date.now() });
  saveJoin(room, body.username);
  connect(room, body.username);
}

joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (authButtons[0].disabled) return; // signing in already
  if (!sessions.current && input('password').value) {
    void signIn('login');
    return;
  }
  const room = input('room').value.trim();
  const user = input('user').value.trim();
  if (!room || !sessions.check()) return;
  saveJoin(room, user);
  connect(room, user);
});
$('login').addEventListener('click', () => void signIn('login'));
$('register').addEventListener('click', () => void signIn('register'));
$('logout').addEventListener('click', () => {
  sessions.set(null);
  if (ws && target && target.account) { // a connection in the account's name ends with it
    const old = ws;
    ws = null;
    old.close(1000, 'signed out');
    roster.clear();
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
  if (target && sessions.check()) connect(target.room, target.user);
});

try {
  const saved = JSON.parse(localStorage.getItem('parley') || 'null') as { room?: string; user?: string } | null;
  if (saved) {
    input('room').value = saved.room || 'general';
    input('user').value = saved.user || '';
  }
} catch { /* nothing saved */ }
sessions.restore();
