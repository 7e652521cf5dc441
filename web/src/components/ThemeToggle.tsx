// Dark mode: follows the system setting until the user presses the toggle, then keeps their
// choice in this browser. Sets data-theme on <html>; the style sheet does the rest. Never decides
// colours itself.
import { useEffect, useState } from 'react';
import { Prefs, type Theme } from '../Prefs';

export function applyTheme(t: Theme): void {
  if (t === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

const systemDark = () => typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;

export function ThemeToggle({ prefs = new Prefs() }: { prefs?: Prefs }) {
  const [theme, setTheme] = useState<Theme>(() => prefs.theme());
  const [system, setSystem] = useState(systemDark);
  useEffect(() => {
    if (typeof matchMedia !== 'function') return;
    const q = matchMedia('(prefers-color-scheme: dark)');
    const on = () => setSystem(q.matches);
    q.addEventListener('change', on);
    return () => q.removeEventListener('change', on);
  }, []);
  const dark = theme === 'dark' || (theme === 'system' && system);
  const toggle = () => {
    const next: Theme = dark ? 'light' : 'dark';
    setTheme(next);
    applyTheme(next);
    prefs.setTheme(next);
  };
  return (
    <button type="button" className="secondary theme-toggle" aria-pressed={dark} onClick={toggle}
            title={theme === 'system' ? 'Following the system setting' : undefined}>
      <span className="mark" aria-hidden="true">{dark ? '●' : '○'}</span>Dark mode
    </button>
  );
}
