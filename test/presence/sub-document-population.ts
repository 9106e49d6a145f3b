import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ObjectId, type Document } from 'mongodb';

const MINUTE = 60_000;

/** Presence kept in a sub-document beside fields the tool must never touch (`device`, and `plan` at the top). */
export const SUB_DOCUMENT_SETTINGS = {
  collection: 'accounts',
  onlineField: 'presence.online',
  lastSeenField: 'presence.lastSeen',
  offlineSet: { 'presence.socketId': null },
};

export function writeSubDocumentConfig(dir: string): string {
  const path = join(dir, 'sub-document.json');
  writeFileSync(path, JSON.stringify(SUB_DOCUMENT_SETTINGS));
  return path;
}

export type SubDocumentKind =
  | 'offline'
  | 'active'
  | 'recent'
  | 'stale'
  | 'onlineWithoutActivity'
  | 'withoutPresence'
  | 'malformed';

export interface SubDocumentUser {
  kind: SubDocumentKind;
  document: Document;
}

/**
 * A population whose truth is known by construction, relative to `now`: no
 * last activity within five minutes of the 30-minute cut-off, and none of the
 * online ones within a minute of the 2-minute ghost grace, except `recent`,
 * active just now.
 */
export function subDocumentPopulation(now: Date): SubDocumentUser[] {
  const ago = (minutes: number) => new Date(now.getTime() - minutes * MINUTE);
  const user = (kind: SubDocumentKind, fields: Document): SubDocumentUser => ({
    kind,
    document: { _id: new ObjectId(), name: `${kind} user`, ...fields, plan: 'pro' },
  });
  const times = (count: number, make: (n: number) => SubDocumentUser) => Array.from({ length: count }, (_, n) => make(n));
  return [
    ...times(5, (n) => user('offline', { presence: { online: false, lastSeen: ago(10 + n * 97), device: 'web', socketId: null } })),
    ...times(3, (n) => user('active', { presence: { online: true, lastSeen: ago(4 + n * 6), device: 'ios', socketId: `socket-a${n}` } })),
    user('recent', { presence: { device: 'ios', online: true, lastSeen: ago(0), socketId: 'socket-r' } }),
    ...times(3, (n) => user('stale', { presence: { online: true, lastSeen: ago(45 + n * 53), device: 'android', socketId: `socket-s${n}` } })),
    user('onlineWithoutActivity', { presence: { online: true, device: 'web' } }),
    user('onlineWithoutActivity', { presence: { online: true, lastSeen: null, device: 'web', socketId: 'socket-n' } }),
    user('withoutPresence', {}),
    user('withoutPresence', { presence: {} }),
    user('withoutPresence', { presence: { device: 'tv' } }),
    user('malformed', { presence: [{ online: true, lastSeen: ago(300), socketId: 'socket-m0' }] }),
    user('malformed', { presence: [{ online: false, lastSeen: ago(300) }] }),
    user('malformed', { presence: [] }),
    user('malformed', { presence: null }),
    user('malformed', { presence: 'online' }),
    user('malformed', { presence: { online: 'yes', lastSeen: ago(300), device: 'ios' } }),
    user('malformed', { presence: { online: true, lastSeen: 'yesterday', device: 'ios' } }),
    user('malformed', { presence: { online: null, lastSeen: ago(300) } }),
  ];
}

export function idsOfKind(users: readonly SubDocumentUser[], ...kinds: SubDocumentKind[]): string[] {
  return users
    .filter((user) => kinds.includes(user.kind))
    .map((user) => String(user.document._id))
    .sort();
}
