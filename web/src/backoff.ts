// How long to wait before the next reconnect: exponential (0.5 s doubling to 30 s) with jitter,
// so that the clients of a restarted server do not all come back in the same instant. Pure: the
// caller owns the timer and the random source.

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30_000;

// attempt 0 is the first retry after a loss. The delay is drawn from [half, all] of the
// exponential step ("equal jitter"): never zero (a server that refuses at once is not hammered)
// and spread over half the window.
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return Math.round(step / 2 + random() * (step / 2));
}
