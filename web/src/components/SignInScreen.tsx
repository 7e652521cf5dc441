// The screen before the chat: sign in or register (with "Keep me signed in" for every tab of
// this browser, else this tab only), or chat as a guest. Shows why the user is here (signed out,
// expired, the server requires an account). Never keeps the password beyond the request.
import { type FormEvent, useId, useState } from 'react';
import { useChatState, useClient } from '../useChat';
import { ThemeToggle } from './ThemeToggle';

export function SignInScreen() {
  const client = useClient();
  const { signInBusy, signInMessage } = useChatState();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [keep, setKeep] = useState(true);
  const [guest, setGuest] = useState('');
  const ids = useId();

  const submit = (kind: 'login' | 'register') => async (e?: FormEvent) => {
    e?.preventDefault();
    await client.signIn(kind, name, password, keep);
    setPassword('');
  };

  return (
    <main className="signin">
      <header className="signin-head">
        <h1>Parley</h1>
        <ThemeToggle />
      </header>
      {signInMessage && (
        <p id="signin-message" role="alert" className={signInMessage.error ? 'message error' : 'message'}>
          {signInMessage.text}
        </p>
      )}
      <form className="card" onSubmit={submit('login')} aria-labelledby={`${ids}-account`}>
        <h2 id={`${ids}-account`}>Sign in</h2>
        <label htmlFor={`${ids}-name`}>Name</label>
        <input id={`${ids}-name`} name="username" autoComplete="username" maxLength={32} dir="auto"
               value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor={`${ids}-password`}>Password</label>
        <input id={`${ids}-password`} name="password" type="password" autoComplete="current-password"
               value={password} onChange={(e) => setPassword(e.target.value)} />
        <label className="check">
          <input type="checkbox" checked={keep} onChange={(e) => setKeep(e.target.checked)} />
          Keep me signed in
        </label>
        <p className="hint">{keep ? 'Every tab of this browser stays signed in.' : 'Only this tab is signed in, until it closes.'}</p>
        <div className="buttons">
          <button type="submit" disabled={signInBusy}>Sign in</button>
          <button type="button" className="secondary" disabled={signInBusy} onClick={() => void submit('register')()}>
            Register
          </button>
        </div>
      </form>
      <form className="card" aria-labelledby={`${ids}-guest`}
            onSubmit={(e) => { e.preventDefault(); client.continueAsGuest(guest); }}>
        <h2 id={`${ids}-guest`}>Or chat as a guest</h2>
        <label htmlFor={`${ids}-guestname`}>Guest name (optional)</label>
        <input id={`${ids}-guestname`} name="guest" autoComplete="nickname" maxLength={32} dir="auto"
               value={guest} onChange={(e) => setGuest(e.target.value)} />
        <p className="hint">No password. A name that has an account needs its password.</p>
        <div className="buttons">
          <button type="submit" className="secondary">Join as guest</button>
        </div>
      </form>
    </main>
  );
}
