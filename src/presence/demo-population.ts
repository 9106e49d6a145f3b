import { ObjectId, type Document } from 'mongodb';

/** A coworking platform's users, in shares a newcomer recognises. */
const SHARES = [
  ['offline', 0.52],
  ['active', 0.18],
  ['stale', 0.12],
  ['ghost', 0.1],
  ['online-no-activity', 0.03],
  ['never-connected', 0.04],
] as const;
export type DemoKind = (typeof SHARES)[number][0] | 'malformed';

const ROOMS = ['open-space', 'focus-1', 'focus-2', 'meeting-blue', 'meeting-green', 'phone-booth', 'kitchen'];
const FIRST = ['Ada', 'Bruno', 'Chloé', 'Dmitri', 'Elif', 'Farid', 'Greta', 'Hugo', 'Inès', 'Jonas', 'Kemi', 'Lina', 'Marco', 'Nora'];
const LAST = ['Martin', 'Okafor', 'Schmidt', 'Rossi', 'Nguyen', 'Dubois', 'Silva', 'Kowalski', 'Haddad', 'Larsen'];
const MINUTE = 60_000;

/** Deterministic, so every demo shows the same story. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Malformed on purpose, the way real data goes wrong: strings, numbers and arrays where a boolean or a date belongs. */
const MALFORMED: ((now: Date) => Document)[] = [
  () => ({ isOnline: 'true', lastSeen: new Date() }),
  (now) => ({ isOnline: 1, lastSeen: new Date(now.getTime() - 120 * MINUTE) }),
  () => ({ isOnline: true, lastSeen: 'yesterday' }),
  (now) => ({ isOnline: true, lastSeen: now.getTime() - 300 * MINUTE }),
  (now) => ({ isOnline: [true], lastSeen: new Date(now.getTime() - 90 * MINUTE) }),
];

/**
 * `size` users with presence in `isOnline`/`lastSeen` and the companion
 * fields `socketId` and `currentRoom`, relative to `now`.
 */
export function demoPopulation(size: number, now: Date, seed = 20261125): { users: Document[]; kinds: Record<DemoKind, number> } {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const minutesAgo = (from: number, to: number) => new Date(now.getTime() - (from + random() * (to - from)) * MINUTE);
  const kinds = Object.fromEntries([...SHARES.map(([kind]) => [kind, 0]), ['malformed', 0]]) as Record<DemoKind, number>;
  const malformedCount = Math.max(MALFORMED.length, Math.round(size * 0.01));
  const users: Document[] = [];
  for (let index = 0; index < size; index++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const base: Document = {
      _id: new ObjectId(),
      name: `${first} ${last}`,
      email: `${first}.${last}.${index}@example.com`.toLowerCase(),
      createdAt: minutesAgo(60 * 24 * 30, 60 * 24 * 700),
    };
    const connected = () => ({ socketId: Math.floor(random() * 2 ** 48).toString(36), currentRoom: pick(ROOMS) });
    let kind: DemoKind;
    if (index < malformedCount) {
      kind = 'malformed';
      Object.assign(base, { socketId: null, currentRoom: null }, MALFORMED[index % MALFORMED.length]!(now));
    } else {
      kind = kindFor(random());
      Object.assign(base, presenceOf(kind, minutesAgo, connected));
    }
    kinds[kind]++;
    users.push(base);
  }
  return { users, kinds };
}

function kindFor(draw: number): Exclude<DemoKind, 'malformed'> {
  let total = 0;
  for (const [kind, share] of SHARES) {
    total += share;
    if (draw < total) return kind;
  }
  return 'offline';
}

function presenceOf(
  kind: Exclude<DemoKind, 'malformed'>,
  minutesAgo: (from: number, to: number) => Date,
  connected: () => Document,
): Document {
  switch (kind) {
    case 'offline':
      return { isOnline: false, lastSeen: minutesAgo(60, 60 * 24 * 30), socketId: null, currentRoom: null };
    case 'active':
      return { isOnline: true, lastSeen: minutesAgo(0, 25), ...connected() };
    case 'stale':
      return { isOnline: true, lastSeen: minutesAgo(35, 60 * 8), ...connected() };
    case 'ghost':
      return { isOnline: true, lastSeen: minutesAgo(60 * 24 * 2, 60 * 24 * 60), ...connected() };
    case 'online-no-activity':
      return { isOnline: true, ...connected() };
    case 'never-connected':
      return {};
  }
}
