import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { ObjectId, type Db } from 'mongodb';
import { runTool, type ToolRun } from './children.ts';
import { model, type Population } from './population.ts';

/** What the tool costs per user connected to the platform, from the same run with few and with many. */
export interface ConnectedCase {
  connectedIds: number;
  /** The run with only the population's own connected users. */
  few: { ids: number; planMs: number; peakRssMb: number };
  many: { ids: number; planMs: number; peakRssMb: number };
  bytesPerConnectedUser: number;
  /** Ghosts planned, both times: the stale users (the active ones are connected). */
  planned: number;
}

/**
 * `presence reconcile --dry-run` as a child, against an endpoint answering in
 * the presence endpoint's format with the population's active users plus
 * `extra` ids of users not in the database. A stand-in server: a real
 * Socket.IO deployment of 100,000 sockets is not what is measured here, the
 * tool's cost of holding and comparing its answer is.
 */
export async function connectedCase(db: Db, serverUri: string, population: Population, extra: number): Promise<ConnectedCase> {
  const active = await db
    .collection(population.collection)
    .find({ [model.online.field]: true, [model.lastSeenField]: { $gt: new Date(population.seededAt - 3600_000) } }, { projection: { _id: 1 } })
    .toArray();
  const activeIds = active.map((user) => String(user._id));
  const token = randomBytes(24).toString('base64url');
  const measure = async (ids: number) => {
    const endpoint = await answering(token, activeIds, ids);
    try {
      const run = await runTool(
        ['reconcile', '--dry-run', '--grace', '0', '--uri', serverUri, '--collection', population.collection, '--connected', endpoint.url],
        { PRESENCE_CONNECTED_TOKEN: token },
      );
      return { ids: activeIds.length + ids, planMs: run.record.stepMs.plan ?? 0, peakRssMb: run.peakRssMb, planned: plannedOf(run) };
    } finally {
      endpoint.server.close();
    }
  };
  const few = await measure(0);
  const many = await measure(extra);
  if (few.planned !== population.stale || many.planned !== population.stale) {
    throw new Error(`reconcile planned ${few.planned} and ${many.planned} ghosts, expected the ${population.stale} stale users`);
  }
  const bytes = ((many.peakRssMb - few.peakRssMb) * 1024 * 1024) / (many.ids - few.ids);
  return {
    connectedIds: many.ids,
    few: { ids: few.ids, planMs: few.planMs, peakRssMb: few.peakRssMb },
    many: { ids: many.ids, planMs: many.planMs, peakRssMb: many.peakRssMb },
    bytesPerConnectedUser: Math.round(bytes),
    planned: many.planned,
  };
}

function plannedOf(run: ToolRun): number {
  return run.record.plan.state === 'done' ? run.record.plan.count : -1;
}

/** The endpoint's answer, `{ userIds, sockets, servers, complete, at }`, written in chunks as the endpoint writes it. */
async function answering(token: string, known: readonly string[], extra: number): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    if (request.headers.authorization !== `Bearer ${token}`) return void response.writeHead(401).end();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write(`{"complete":true,"servers":1,"sockets":${known.length + extra},"at":"${new Date().toISOString()}","userIds":[`);
    const ids = [...known];
    for (let i = 0; i < extra; i++) ids.push(new ObjectId().toHexString());
    for (let start = 0; start < ids.length; start += 1000) {
      response.write((start === 0 ? '' : ',') + ids.slice(start, start + 1000).map((id) => `"${id}"`).join(','));
    }
    response.end(']}');
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/presence`, server };
}
