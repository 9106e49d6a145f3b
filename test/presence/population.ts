import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Document } from 'mongodb';

const MINUTE = 60_000;

/** One way a platform stores presence, with the values the tests write and expect. */
export interface PresenceCase {
  name: string;
  /** The config file a user would write for it. */
  settings: Record<string, unknown>;
  collection: string;
  onlineField: string;
  lastSeenField: string;
  companions: Record<string, unknown>;
  onlineValues: readonly unknown[];
  offlineValue: unknown;
  /** Wrong types (or unknown values) in the online field. */
  malformedOnline: readonly unknown[];
}

export const PRESENCE_CASES: PresenceCase[] = [
  {
    name: 'boolean isOnline',
    settings: { collection: 'members', offlineSet: { socketId: null } },
    collection: 'members',
    onlineField: 'isOnline',
    lastSeenField: 'lastSeen',
    companions: { socketId: null },
    onlineValues: [true],
    offlineValue: false,
    malformedOnline: ['true', 1, [true], { on: true }],
  },
  {
    name: 'status string',
    settings: {
      collection: 'people',
      onlineField: 'status',
      offlineValue: 'offline',
      onlineValues: ['online', 'away'],
      lastSeenField: 'lastActiveAt',
      offlineSet: { socketId: null, currentRoom: null },
    },
    collection: 'people',
    onlineField: 'status',
    lastSeenField: 'lastActiveAt',
    companions: { socketId: null, currentRoom: null },
    onlineValues: ['online', 'away'],
    offlineValue: 'offline',
    malformedOnline: [true, 1, ['online'], 'busy'],
  },
];

export function writeConfig(dir: string, presence: PresenceCase): string {
  const path = join(dir, `${presence.collection}.json`);
  writeFileSync(path, JSON.stringify(presence.settings));
  return path;
}

export type Category = 'offline' | 'active' | 'stale' | 'onlineWithoutActivity' | 'withoutPresence' | 'malformed';

export interface Population {
  users: Document[];
  /** Every user's category, by construction: the truth the tests hold the tool to. */
  categoryOf: Map<string, Category>;
  now: Date;
}

/**
 * A population whose truth is known by construction, relative to `now`. No
 * activity time lies within five minutes of 30 or 60 minutes ago, so a run a
 * few seconds later sees the same truth.
 */
export function population(presence: PresenceCase, now: Date, size = { offline: 40, active: 30, stale: 25 }): Population {
  const users: Document[] = [];
  const categoryOf = new Map<string, Category>();
  const ago = (minutes: number) => new Date(now.getTime() - minutes * MINUTE);
  const connected = (n: number) =>
    Object.fromEntries(Object.keys(presence.companions).map((field) => [field, `${field}-${n}`]));
  const add = (category: Category, fields: Document) => {
    const _id = `user-${String(users.length).padStart(4, '0')}`;
    users.push({ _id, name: `User ${users.length}`, ...fields });
    categoryOf.set(_id, category);
  };
  const online = (n: number) => presence.onlineValues[n % presence.onlineValues.length];
  const { onlineField: on, lastSeenField: seen } = presence;

  for (let n = 0; n < size.offline; n++) add('offline', { [on]: presence.offlineValue, [seen]: ago(10 + n * 97), ...presence.companions });
  for (let n = 0; n < size.active; n++) add('active', { [on]: online(n), [seen]: ago(1 + (n % 24)), ...connected(n) });
  // 35 min, 88 min, 141 min, …: stale at 30 min; from the second on, stale at 60 min too.
  for (let n = 0; n < size.stale; n++) add('stale', { [on]: online(n), [seen]: ago(35 + n * 53), ...connected(n) });
  add('onlineWithoutActivity', { [on]: online(0), ...connected(1) });
  add('onlineWithoutActivity', { [on]: online(1), [seen]: null, ...connected(2) });
  add('onlineWithoutActivity', { [on]: online(0), ...connected(3) });
  add('withoutPresence', {});
  add('withoutPresence', { [seen]: ago(500) });
  for (const [n, value] of presence.malformedOnline.entries()) add('malformed', { [on]: value, [seen]: ago(120 + n), ...connected(n) });
  add('malformed', { [on]: online(0), [seen]: '2026-01-01T00:00:00Z', ...connected(7) });
  add('malformed', { [on]: online(0), [seen]: ago(300).getTime(), ...connected(8) });
  add('malformed', { [on]: online(0), [seen]: [ago(300)], ...connected(9) });
  return { users, categoryOf, now };
}

export function idsOf(pop: Population, ...categories: Category[]): string[] {
  return [...pop.categoryOf].filter(([, category]) => categories.includes(category)).map(([id]) => id).sort();
}

export function count(pop: Population, ...categories: Category[]): number {
  return idsOf(pop, ...categories).length;
}

/** Online users (well-formed) last active before `minutes` ago, from the seeded values. */
export function staleIds(pop: Population, presence: PresenceCase, minutes: number, asOf = pop.now): string[] {
  const cutoff = asOf.getTime() - minutes * MINUTE;
  return pop.users
    .filter((user) => {
      const category = pop.categoryOf.get(user._id as string);
      const seen = user[presence.lastSeenField];
      return (category === 'active' || category === 'stale') && seen instanceof Date && seen.getTime() < cutoff;
    })
    .map((user) => user._id as string)
    .sort();
}

export function oldestOnlineActivity(pop: Population, presence: PresenceCase): Date {
  const times = pop.users
    .filter((user) => ['active', 'stale'].includes(pop.categoryOf.get(user._id as string)!))
    .map((user) => (user[presence.lastSeenField] as Date).getTime());
  return new Date(Math.min(...times));
}
