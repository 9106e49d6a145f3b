import { MongoServerError, MongoWriteConcernError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { AdaptivePace, isWriteConcernTimeout } from '../../src/engine/pace.ts';

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

  it('counts a write-concern timeout as pressure, and no other write error', async () => {
    const clock = fakeClock();
    const notices: string[] = [];
    const pace = new AdaptivePace({ clock, onNotice: (message) => notices.push(message) });
    for (let i = 0; i < 5; i++) {
      await pace.beforeBatch(100);
      clock.advance(10);
      pace.afterBatch(100, 10);
    }
    const duplicate = new MongoServerError({ message: 'E11000 duplicate key error', code: 11000 });
    pace.afterBatch(100, 10, duplicate);
    expect(notices).toEqual([]);

    const timeout = new MongoWriteConcernError({
      writeConcernError: { code: 64, errmsg: 'waiting for replication timed out', errInfo: { wtimeout: true } },
    } as never);
    expect(isWriteConcernTimeout(timeout)).toBe(true);
    expect(isWriteConcernTimeout(duplicate)).toBe(false);
    pace.afterBatch(100, 10, timeout);
    expect(notices).toEqual([expect.stringMatching(/backing off: the server reported a write-concern timeout .*pausing ×2/)]);
    const start = clock.now();
    await pace.beforeBatch(100);
    expect(clock.now() - start).toBeGreaterThan(0);
  });

  it('holds the next batch while a secondary lags beyond the limit, says so, and goes on once it catches up', async () => {
    const clock = fakeClock();
    const notices: string[] = [];
    const lags = [0, 30, 25, 4];
    let reads = 0;
    const pace = new AdaptivePace({
      clock,
      maxLagSeconds: 10,
      readLag: async () => {
        reads++;
        return { seconds: lags.shift() ?? 0, member: 'db2:27017' };
      },
      onNotice: (message) => notices.push(message),
    });
    await pace.beforeBatch(100);
    expect(reads).toBe(1);
    // Within a second of the last read, a calm set is not asked again.
    clock.advance(400);
    await pace.beforeBatch(100);
    expect(reads).toBe(1);

    clock.advance(700);
    const start = clock.now();
    await pace.beforeBatch(100);
    expect(reads).toBe(4);
    expect(clock.now() - start).toBe(250 + 500);
    expect(notices).toEqual([
      expect.stringMatching(/backing off: secondary db2:27017 is 30 s behind the primary \(the lag limit is 10 s\)/),
      expect.stringMatching(/replication caught up \(db2:27017 4 s behind\): writing again/),
    ]);
  });

  it('stops waiting for replication when the run is interrupted', async () => {
    const controller = new AbortController();
    const clock = {
      now: () => 0,
      sleep: async () => controller.abort(),
    };
    const pace = new AdaptivePace({ clock, maxLagSeconds: 1, readLag: async () => ({ seconds: 60, member: 'db2:27017' }) });
    await pace.beforeBatch(100, controller.signal);
    expect(controller.signal.aborted).toBe(true);
    expect(pace.notices()).toHaveLength(1);
  });
});
