import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Document } from 'mongodb';
import { buildUsers, type Cohort } from '../support/users.ts';

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
  const ago = (minutes: number) => new Date(now.getTime() - minutes * MINUTE);
  const connected = (n: number) =>
    Object.fromEntries(Object.keys(presence.companions).map((field) => [field, `${field}-${n}`]));
  const online = (n: number) => presence.onlineValues[n % presence.onlineValues.length];
  const seen = presence.lastSeenField;
  const named: Pick<Cohort, 'id' | 'name'> = {
    id: (_, index) => `user-${String(index).padStart(4, '0')}`,
    name: (_, index) => `User ${index}`,
  };
  /** One user, whatever is odd about it. */
  const one = (cohort: Omit<Cohort, 'count'>): Cohort => ({ count: 1, ...cohort });
  const kinds: Array<[Category, Cohort]> = [
    ['offline', { count: size.offline, online: () => presence.offlineValue, minutesAgo: (n) => 10 + n * 97, extra: () => presence.companions }],
    ['active', { count: size.active, online, minutesAgo: (n) => 1 + (n % 24), extra: connected }],
    // 35 min, 88 min, 141 min, …: stale at 30 min; from the second on, stale at 60 min too.
    ['stale', { count: size.stale, online, minutesAgo: (n) => 35 + n * 53, extra: connected }],
    ['onlineWithoutActivity', one({ online: () => online(0), extra: () => connected(1) })],
    ['onlineWithoutActivity', one({ online: () => online(1), extra: () => ({ [seen]: null, ...connected(2) }) })],
    ['onlineWithoutActivity', one({ online: () => online(0), extra: () => connected(3) })],
    ['withoutPresence', one({})],
    ['withoutPresence', one({ minutesAgo: () => 500 })],
    ['malformed', { count: presence.malformedOnline.length, online: (n) => presence.malformedOnline[n], minutesAgo: (n) => 120 + n, extra: connected }],
    ['malformed', one({ online: () => online(0), extra: () => ({ [seen]: '2026-01-01T00:00:00Z', ...connected(7) }) })],
    ['malformed', one({ online: () => online(0), extra: () => ({ [seen]: ago(300).getTime(), ...connected(8) }) })],
    ['malformed', one({ online: () => online(0), extra: () => ({ [seen]: [ago(300)], ...connected(9) }) })],
  ];
  const users = buildUsers(
    now,
    kinds.map(([, cohort]) => ({ ...named, ...cohort })),
    { online: presence.onlineField, lastSeen: seen },
  );
  const categories = kinds.flatMap(([category, cohort]) => Array<Category>(cohort.count).fill(category));
  return { users, categoryOf: new Map(users.map((user, index) => [user._id as string, categories[index]!])), now };
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
