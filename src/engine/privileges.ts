import { DatabaseError } from './errors.ts';

/** MongoDB's code for a command the logged-in user (or no user) may not run. */
const UNAUTHORIZED = 13;
/** Atlas answers a missing privilege with its own code and message. */
const ATLAS_ERROR = 8000;

/** What the server refused, read from its message: the command (action) and where. */
export interface RefusedAction {
  action: string;
  /** `db.collection`, or the database alone for a database or cluster command. */
  namespace: string;
  database: string;
  /** No user is logged in: the server wants one before anything else. */
  loginRequired: boolean;
}

/** A 13 whose message names no command. */
const UNNAMED: RefusedAction = { action: 'a command', namespace: 'the target database', database: '', loginRequired: false };

/** The server refused a command to this user: a missing privilege, not a failed login (exit 3, like any database refusal). */
export class PrivilegeError extends DatabaseError {
  constructor(
    readonly refused: RefusedAction,
    codeName: string,
    options: { cause: unknown },
  ) {
    super(messageOf(refused, codeName), options);
  }
}

/** Databases the tool only reads to watch the deployment (replication, sharding metadata). */
const CLUSTER_DATABASES = new Set(['admin', 'config', 'local']);

/** The role that covers an action, by where it runs: the tool reads and writes the target database, and only watches the cluster. */
function grantFor(refused: RefusedAction): string {
  if (CLUSTER_DATABASES.has(refused.database)) return 'the clusterMonitor role';
  return `the readWrite role on ${refused.database === '' ? 'the target database' : `database "${refused.database}"`}`;
}

function messageOf(refused: RefusedAction, codeName: string): string {
  if (refused.loginRequired) {
    return `the server requires a login to run ${refused.action}: put a user and password in the URI (mongodb://USER:PASSWORD@HOST/DATABASE)`;
  }
  return `not authorized: the server refused ${refused.action} on ${refused.namespace} to this user (${codeName}); the login worked, a privilege is missing: grant the user ${grantFor(refused)}`;
}

/**
 * The privilege error behind a failure, looked for through its causes (a
 * failed write batch wraps the server's error), or undefined. Only the
 * command's name and namespace are taken from the server's message: the rest
 * quotes the command, values included.
 */
export function privilegeErrorOf(error: unknown): PrivilegeError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof PrivilegeError) return current;
    const code = (current as { code?: unknown }).code;
    if (code !== UNAUTHORIZED && code !== ATLAS_ERROR) continue;
    const refused = code === ATLAS_ERROR ? atlasRefusal(current.message) : (unauthorizedRefusal(current.message) ?? UNNAMED);
    if (refused === undefined) continue;
    const codeName = (current as { codeName?: unknown }).codeName;
    return new PrivilegeError(refused, `${typeof codeName === 'string' ? codeName : 'Unauthorized'}, code ${code}`, { cause: current });
  }
  return undefined;
}

/**
 * `not authorized on app to execute command { find: "users", filter: … }`, or,
 * with no user logged in, `command find requires authentication`.
 */
function unauthorizedRefusal(message: string): RefusedAction | undefined {
  const command = /not authorized on ([^\s]+) to execute command \{ ?"?([A-Za-z_$][\w$]*)"?: ("((?:[^"\\]|\\.)*)")?/.exec(message);
  if (command) {
    const [, database, action, , collection] = command;
    return { action: action!, database: database!, namespace: collection ? `${database}.${collection}` : database!, loginRequired: false };
  }
  const login = /command ([A-Za-z_$][\w$]*) requires authentication/.exec(message);
  if (login) return { action: login[1]!, database: '', namespace: '', loginRequired: true };
  return undefined;
}

/** Atlas: `user is not allowed to do action [find] on [app.users]`. */
function atlasRefusal(message: string): RefusedAction | undefined {
  const match = /not allowed to do action \[([^\]]+)\] on \[([^\]]*)\]/.exec(message);
  if (!match) return undefined;
  const [, action, namespace] = match;
  const database = namespace!.split('.')[0]!;
  return { action: action!, namespace: namespace!, database, loginRequired: false };
}
