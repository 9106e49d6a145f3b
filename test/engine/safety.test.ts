import { describe, expect, it } from 'vitest';
import { assertWindow, changeWords, confirmRun, windowState, insideWindow, parseWindow, parseWindows } from '../../src/engine/safety.ts';

const at = (iso: string) => new Date(iso);

describe('maintenance windows', () => {
  it('reads the window in its own time zone', () => {
    const paris = parseWindow('02:00-05:00 Europe/Paris');
    expect(insideWindow(paris, at('2026-11-25T01:30:00Z'))).toBe(true); // 02:30 in Paris (UTC+1)
    expect(insideWindow(paris, at('2026-11-25T04:00:00Z'))).toBe(false); // 05:00 in Paris: the end is excluded
    expect(insideWindow(paris, at('2026-07-01T00:30:00Z'))).toBe(true); // 02:30 in Paris in summer (UTC+2)
  });

  it('crosses midnight', () => {
    const night = parseWindow('23:00-01:30 UTC');
    expect(insideWindow(night, at('2026-11-25T23:10:00Z'))).toBe(true);
    expect(insideWindow(night, at('2026-11-26T01:00:00Z'))).toBe(true);
    expect(insideWindow(night, at('2026-11-26T01:30:00Z'))).toBe(false);
    expect(insideWindow(night, at('2026-11-25T12:00:00Z'))).toBe(false);
  });

  it('takes seconds: a window ends at its second', () => {
    const short = parseWindow('02:00:30-02:01:15 UTC');
    expect(insideWindow(short, at('2026-11-25T02:00:29Z'))).toBe(false);
    expect(insideWindow(short, at('2026-11-25T02:00:30Z'))).toBe(true);
    expect(insideWindow(short, at('2026-11-25T02:01:14.900Z'))).toBe(true);
    expect(insideWindow(short, at('2026-11-25T02:01:15Z'))).toBe(false);
    expect(() => parseWindow('02:00:60-03:00')).toThrow(/is not like/);
    expect(() => parseWindow('23:00-24:00:01')).toThrow(/ends after 24:00/);
  });

  it('takes several windows and refuses malformed ones in one line', () => {
    expect(parseWindows('02:00-05:00 Europe/Paris; 13:00-14:00').map((w) => w.spec)).toEqual(['02:00-05:00 Europe/Paris', '13:00-14:00']);
    expect(() => parseWindow('2-5')).toThrow(/is not like "02:00-05:00 Europe\/Paris"/);
    expect(() => parseWindow('02:00-05:00 Mars/Olympus')).toThrow(/unknown time zone "Mars\/Olympus"/);
    expect(() => parseWindow('25:00-26:00')).toThrow(/is not like/);
  });

  it('refuses a write outside every window unless a reason is given; a dry run always passes', () => {
    const policy = { env: 'production' as const, windows: [parseWindow('02:00-03:00 UTC')], yes: false };
    const noon = at('2026-11-25T12:00:00Z');
    const closed = windowState(policy, noon, false);
    expect(closed).toEqual({ inside: false, windows: ['02:00-03:00 UTC'] });
    expect(() => assertWindow(closed, false)).toThrow(/outside the maintenance window \(02:00-03:00 UTC\)/);
    expect(() => assertWindow(windowState(policy, noon, true), true)).not.toThrow();
    const overridden = windowState({ ...policy, outsideWindowReason: 'incident 42' }, noon, false);
    expect(overridden).toMatchObject({ inside: false, overrideReason: 'incident 42' });
    expect(() => assertWindow(overridden, false)).not.toThrow();
    expect(windowState({ ...policy, windows: [] }, noon, false).inside).toBe(true);
  });
});

describe('confirmation', () => {
  it('names the kind, the count and the collection', () => {
    expect(changeWords({ kind: 'delete', collection: 'sessions' }, 1204)).toBe('DELETE 1,204 documents from sessions');
    expect(changeWords({ collection: 'users' }, 1)).toBe('UPDATE 1 document in users');
    expect(changeWords({ kind: 'archive', collection: 'bookings', into: 'app.bookings_archive' }, 3)).toBe('ARCHIVE 3 documents from bookings into app.bookings_archive');
    expect(changeWords({ kind: 'indexes', collection: 'users' }, 2)).toBe('CREATE 2 indexes on users');
    expect(changeWords({ kind: 'delete', collection: 'sessions' }, 2, true)).toBe('RESTORE 2 documents of sessions');
  });

  it('needs --yes with --expect on production without a terminal', async () => {
    const base = { env: 'production' as const, windows: [], yes: true };
    await expect(confirmRun(base, 'app', 10, 'UPDATE 10 documents in users')).rejects.toThrow(/^UPDATE 10 documents in users in production needs the operator's confirmation: .*a yes given ahead with the count of a dry run$/);
    await expect(confirmRun({ ...base, expect: { count: 10, tolerance: 0 } }, 'app', 10, 'UPDATE 10 documents in users')).resolves.toMatchObject({ by: 'expected-count' });
    await expect(confirmRun({ ...base, expect: { count: 12, tolerance: 1 } }, 'app', 10, 'UPDATE 10 documents in users')).rejects.toThrow(/the plan counts 10 document\(s\), the operator expected 12 ± 1/);
    await expect(confirmRun({ ...base, expect: { count: 12, tolerance: 2 } }, 'app', 10, 'UPDATE 10 documents in users')).resolves.toMatchObject({ by: 'expected-count' });
  });

  it('asks for the database name in a terminal', async () => {
    const policy = { env: 'production' as const, windows: [], yes: false };
    const asked: string[] = [];
    const ask = async (question: string) => (asked.push(question), 'app');
    await expect(confirmRun({ ...policy, ask }, 'app', 3, 'UPDATE 3 documents in users')).resolves.toEqual({ by: 'typed-database-name' });
    expect(asked).toEqual(['This will UPDATE 3 documents in users in PRODUCTION. Type the database name (app) to go on:']);
    await expect(confirmRun({ ...policy, ask: async () => 'yes' }, 'app', 3, 'UPDATE 3 documents in users')).rejects.toThrow(/did not match the database name/);
  });

  it('asks nothing elsewhere, but still holds --expect', async () => {
    await expect(confirmRun({ env: 'staging', windows: [], yes: false }, 'app', 3, 'UPDATE 3 documents in users')).resolves.toEqual({ by: 'not-required' });
    await expect(confirmRun({ env: 'development', windows: [], yes: false, expect: { count: 4, tolerance: 0 } }, 'app', 3, 'UPDATE 3 documents in users')).rejects.toThrow(/the operator expected 4/);
  });
});
