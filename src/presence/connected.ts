import { ExitCode, MaintenanceError, UsageError } from '../engine/errors.ts';
import type { TaskServices } from '../engine/task.ts';
import type { AskedVia } from '../socketio/ids-request.ts';

/**
 * Who is really connected to the platform's Socket.IO deployment, as one
 * answer taken at one instant. Only a complete answer is ever returned: a
 * partial one (a node missing, a timeout) is an error, never "offline".
 */
export interface ConnectedSet {
  /** Distinct user ids of every connected socket, as text (an ObjectId as its hex string). */
  userIds: ReadonlySet<string>;
  /** Connected sockets, every node of the deployment (a user may have several). */
  sockets: number;
  /** Socket.IO servers that answered: all of them, since the answer is complete. */
  servers: number;
  /** When the deployment was asked. */
  at: Date;
  /** How: the ids request every node answers with `presenceResponder`, or `fetchSockets()` (every socket and its handshake). */
  via: AskedVia;
}

/** Where the connected set comes from: the app's endpoint, or the deployment's adapter. */
export interface ConnectedSource {
  /** What to print and audit: a URL or URI with every secret redacted. */
  readonly description: string;
  /** Throws ConnectedSourceError when the answer is partial, late or failed. */
  fetch(signal?: AbortSignal): Promise<ConnectedSet>;
  close(): Promise<void>;
}

/** The connected set is unknown: the run that needs it is refused, nothing is written. */
export class ConnectedSourceError extends MaintenanceError {
  constructor(message: string, options?: { cause?: unknown; unreachable?: boolean }) {
    // Unreachable source: like an unreachable database (3). A partial or late answer: refused (4).
    super(message, options?.unreachable ? ExitCode.database : ExitCode.refused, { cause: options?.cause });
  }
}

/** The name a connected-set source is handed to a task by (see `TaskServices`). */
export const CONNECTED_SERVICE = 'connected';

/** The source a task was handed, or a usage error saying how to configure one. */
export function connectedSourceIn(services: TaskServices, taskId: string): ConnectedSource {
  const source = services[CONNECTED_SERVICE] as ConnectedSource | undefined;
  if (source === undefined || typeof source.fetch !== 'function') {
    throw new UsageError(
      `task ${taskId} needs a connected-set source: configure connectedUrl (the app's endpoint, with connectedToken) or connectedRedis (the deployment's Redis adapter)`,
    );
  }
  return source;
}
