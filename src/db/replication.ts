import type { Db, Document } from 'mongodb';

export interface ReplicationLag {
  /** How far the most lagging secondary is behind the primary, its configured delay aside. */
  seconds: number;
  member: string;
}

/** Reads the secondaries' lag; undefined while the set has no primary or no secondary. */
export type LagReader = () => Promise<ReplicationLag | undefined>;

const PRIMARY = 1;
const SECONDARY = 2;

/**
 * Lag from `replSetGetStatus` (needs the clusterMonitor role): the primary's
 * last applied optime against each secondary's. A delayed member
 * (`secondaryDelaySecs`) is judged against its configured delay, read once
 * from `replSetGetConfig` when allowed. Members that are down, recovering or
 * arbiters are not lagging writes: they are left out.
 */
export function replicationLagReader(db: Db): LagReader {
  const admin = db.admin();
  let delays: Promise<Map<string, number>> | undefined;
  return async () => {
    delays ??= admin.command({ replSetGetConfig: 1 }).then(configuredDelays, () => new Map<string, number>());
    const status = await admin.command({ replSetGetStatus: 1 });
    return lagOf(status, await delays);
  };
}

export function lagOf(status: Document, delays: ReadonlyMap<string, number> = new Map()): ReplicationLag | undefined {
  const members: Document[] = Array.isArray(status.members) ? status.members : [];
  const primary = members.find((member) => member.state === PRIMARY);
  if (!(primary?.optimeDate instanceof Date)) return undefined;
  let worst: ReplicationLag | undefined;
  for (const member of members) {
    if (member.state !== SECONDARY || !(member.optimeDate instanceof Date)) continue;
    const behind = (primary.optimeDate.getTime() - member.optimeDate.getTime()) / 1000 - (delays.get(member.name) ?? 0);
    const seconds = Math.max(0, behind);
    if (worst === undefined || seconds > worst.seconds) worst = { seconds, member: String(member.name) };
  }
  return worst;
}

function configuredDelays(reply: Document): Map<string, number> {
  const members: Document[] = Array.isArray(reply.config?.members) ? reply.config.members : [];
  return new Map(
    members.map((member) => [String(member.host), Number(member.secondaryDelaySecs ?? member.slaveDelay ?? 0)]),
  );
}
