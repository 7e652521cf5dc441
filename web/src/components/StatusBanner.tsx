// The connection's state in plain words (role="status", so screen readers hear changes), with a
// countdown and "Reconnect now" while waiting to reconnect. Never shows a bare close code.
import { useEffect, useState } from 'react';
import type { Status } from '../linkStatus';

export function StatusBanner({ status, onReconnect }: { status: Status; onReconnect: () => void }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (status.retryAt === undefined) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [status.retryAt]);
  const secs = status.retryAt === undefined ? 0 : Math.max(0, Math.ceil((status.retryAt - now) / 1000));
  return (
    <div className="status-bar" data-state={status.state}>
      <p id="status" role="status" data-state={status.state}>{status.text}</p>
      {/* Outside the status: a live region that changed every second would be read every second. */}
      {status.retryAt !== undefined && secs > 0 && <span className="countdown" aria-hidden="true">in {secs} s</span>}
      {(status.state === 'reconnecting' || status.state === 'offline') && (
        <button type="button" className="link-button" onClick={onReconnect}>Reconnect now</button>
      )}
    </div>
  );
}
