import { describe, expect, it } from 'vitest';
import { AdaptivePace } from '../../src/engine/pace.ts';

/** A stand-in clock: time passes only when the pace sleeps or a batch "takes" time. */
function fakeClock() {
  let now = 0;
  return {
    now: () => now,
    sleep: async (ms: number) => void (now += ms),
    advance: (ms: number) => void (now += ms),
  };
}

describe('AdaptivePace', () => {
  it('spaces batches to hold the rate', async () => {
    const clock = fakeClock();
    const pace = new AdaptivePace({ rate: 100, clock });
    for (let i = 0; i < 10; i++) {
      await pace.beforeBatch(50);
      clock.advance(10);
      pace.afterBatch(50, 10);
    }
    // 500 documents at 100/s: the tenth batch starts at 4.5 s and takes 10 ms.
    expect(clock.now()).toBe(4510);
  });

  it('backs off when latency jumps above the median, says so, and recovers when it falls', async () => {
    const clock = fakeClock();
    const notices: string[] = [];
    const pace = new AdaptivePace({ clock, onNotice: (message) => notices.push(message) });
    const batch = async (latency: number) => {
      const start = clock.now();
      await pace.beforeBatch(100);
      const waited = clock.now() - start;
      clock.advance(latency);
      pace.afterBatch(100, latency);
      return waited;
    };
    for (let i = 0; i < 5; i++) expect(await batch(10)).toBe(0);
    await batch(200);
    expect(notices).toEqual([expect.stringMatching(/backing off: a write batch took 200 ms against a median of 10 ms; pausing ×2/)]);
    expect(await batch(10)).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) await batch(10);
    expect(notices.at(-1)).toMatch(/back to normal/);
    expect(await batch(10)).toBe(0);
    expect(pace.notices()).toEqual(notices);
  });
});
