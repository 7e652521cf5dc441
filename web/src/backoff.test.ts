import { describe, expect, it } from 'vitest';
import { BACKOFF_CAP_MS, reconnectDelay } from './backoff';

describe('reconnectDelay', () => {
  it('doubles from half a second, with jitter between half and all of the step', () => {
    expect(reconnectDelay(0, () => 0)).toBe(250);
    expect(reconnectDelay(0, () => 1)).toBe(500);
    expect(reconnectDelay(1, () => 0)).toBe(500);
    expect(reconnectDelay(3, () => 1)).toBe(4000);
  });
  it('never waits longer than the cap, and never zero', () => {
    for (let a = 0; a < 100; a++) {
      const d = reconnectDelay(a);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThanOrEqual(BACKOFF_CAP_MS);
    }
    expect(reconnectDelay(50, () => 0)).toBe(BACKOFF_CAP_MS / 2);
  });
  it('spreads clients out', () => {
    const seen = new Set(Array.from({ length: 50 }, () => reconnectDelay(4)));
    expect(seen.size).toBeGreaterThan(10);
  });
});
