import { randomBytes } from 'node:crypto';
import type { Document } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { messageDocuments, startTcpProxy, type SeenCommand, type TcpProxy } from '../support/tcp-proxy.ts';
import { buildUsers } from '../support/users.ts';

/**
 * A user who may log in but lacks a privilege: the embedded engine has no
 * users, so the proxy answers the refused command exactly as MongoDB (13
 * Unauthorized) or Atlas (8000 AtlasError) does, and everything else reaches
 * the real server.
 */
const database = useTestDatabase('privileges');
const STALE_USERS = 6;
let stateDir: string;
let proxy: TcpProxy | undefined;

/** MongoDB's reply to a command the user has no privilege for: its message quotes the command. */
function unauthorized(seen: SeenCommand): Document {
  const quoted = seen.collection === undefined ? `${seen.command}: 1` : `${seen.command}: "${seen.collection}"`;
  return {
    ok: 0,
    errmsg: `not authorized on ${database.name} to execute command { ${quoted}, ordered: true, lsid: { id: UUID("3b241101-e2bb-4255-8caf-4136c566a962") }, $db: "${database.name}" }`,
    code: 13,
    codeName: 'Unauthorized',
  };
}

/** Atlas's reply for the same refusal. */
function atlasRefusal(seen: SeenCommand): Document {
  return {
    ok: 0,
    errmsg: `user is not allowed to do action [${seen.command}] on [${database.name}.${seen.collection}]`,
    code: 8000,
    codeName: 'AtlasError',
  };
}

async function onlineUsers(): Promise<number> {
  return database.db().collection('users').countDocuments({ isOnline: true });
}

function stale(uri: string, ...args: string[]) {
  return runCli(['stale', '--minutes', '30', '--uri', uri, '--state-dir', stateDir, ...args]);
}

async function latestRecord(): Promise<TaskRunRecord | null> {
  return database.db().collection<TaskRunRecord>('maintenance_runs').findOne({}, { sort: { startedAt: -1 } });
}

beforeEach(async () => {
  stateDir = tempStateDir();
  await database.db().dropDatabase();
  await database.db().collection('users').insertMany(
    buildUsers(new Date(), [{ count: STALE_USERS, online: () => true, minutesAgo: (n) => 120 + n }]),
  );
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('a missing privilege is told from a failed login', () => {
  it('a refused write names the command and the collection, says what to grant, exits 3, and writes nothing', async () => {
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) => (seen.command === 'update' && seen.collection === 'users' ? unauthorized(seen) : undefined),
    });

    const result = await stale(proxy.uri);

    expect(result.code, result.stdout + result.stderr).toBe(3);
    const output = result.stdout + result.stderr;
    expect(output).toContain(`the server refused update on ${database.name}.users to this user (Unauthorized, code 13)`);
    expect(output).toContain(`grant the user the readWrite role on database "${database.name}"`);
    expect(output).not.toMatch(/check the user and password/);
    // The server's message quotes the command; only its name and namespace are repeated.
    expect(output).not.toContain('lsid');
    const record = await latestRecord();
    expect(record?.status).toBe('failed');
    expect(record?.error).toMatchObject({ step: 'apply', code: 3 });
    expect(await onlineUsers()).toBe(STALE_USERS);
  });

  it("Atlas's refusal (8000) of the plan's read is named the same way, exit 3", async () => {
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) => (seen.command === 'find' && seen.collection === 'users' ? atlasRefusal(seen) : undefined),
    });

    const result = await stale(proxy.uri, '--json');

    expect(result.code, result.stderr).toBe(3);
    const record = JSON.parse(result.stdout) as TaskRunRecord;
    expect(record.status).toBe('failed');
    expect(record.error?.step).toBe('plan');
    expect(record.error?.message).toBe(
      `not authorized: the server refused find on ${database.name}.users to this user (AtlasError, code 8000); the login worked, a privilege is missing: grant the user the readWrite role on database "${database.name}"`,
    );
    expect(await onlineUsers()).toBe(STALE_USERS);
  });

  it('a refused audit record, before the run starts, is one line, exit 3, and nothing is written', async () => {
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) => (seen.command === 'insert' && seen.collection === 'maintenance_runs' ? unauthorized(seen) : undefined),
    });

    const result = await stale(proxy.uri);

    expect(result.code, result.stderr).toBe(3);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      `presence: not authorized: the server refused insert on ${database.name}.maintenance_runs to this user (Unauthorized, code 13); the login worked, a privilege is missing: grant the user the readWrite role on database "${database.name}"`,
    ]);
    expect(await onlineUsers()).toBe(STALE_USERS);
  });

  it('no user logged in on a server that wants one: says to log in, exit 3', async () => {
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) =>
        seen.command === 'find'
          ? { ok: 0, errmsg: 'command find requires authentication', code: 13, codeName: 'Unauthorized' }
          : undefined,
    });

    const result = await runCli(['history', '--uri', proxy.uri, '--state-dir', stateDir]);

    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr.trim()).toBe(
      'presence: the server requires a login to run find: put a user and password in the URI (mongodb://USER:PASSWORD@HOST/DATABASE)',
    );
  });

  it('a wrong password (18 AuthenticationFailed) is a failed login, exit 3, and the password is never shown', async () => {
    const password = randomBytes(9).toString('hex');
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) =>
        seen.command === 'saslStart'
          ? { ok: 0, errmsg: 'Authentication failed.', code: 18, codeName: 'AuthenticationFailed' }
          : undefined,
    });
    const withLogin = new URL(proxy.uri);
    withLogin.username = 'maint';
    withLogin.password = password;
    withLogin.searchParams.set('authMechanism', 'SCRAM-SHA-256');

    const result = await stale(withLogin.toString());

    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout + result.stderr).toMatch(/authentication to mongodb:\/\/<credentials>@127\.0\.0\.1:\d+\/\S+ failed: check the user and password/);
    expect(result.stdout + result.stderr).not.toContain(password);
    expect(await onlineUsers()).toBe(STALE_USERS);
  });
});

describe('an optional privilege missing degrades, it does not refuse', () => {
  it('a user without the listCollections action (find and update only on users) still runs stale', async () => {
    // MongoDB's rule: without the listCollections action, only `nameOnly` with `authorizedCollections` is answered.
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) => {
        if (seen.command !== 'listCollections') return undefined;
        const [body] = messageDocuments(seen.message);
        return body?.nameOnly === true && body.authorizedCollections === true ? undefined : unauthorized(seen);
      },
    });

    const result = await stale(proxy.uri);

    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(await onlineUsers()).toBe(0);
  });

  it('the health check warns, not fails, when the user may not list indexes, and says which privilege', async () => {
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) => (seen.command === 'listIndexes' ? unauthorized(seen) : undefined),
    });

    const result = await runCli(['test', '--uri', proxy.uri, '--state-dir', stateDir, '--json']);

    expect(result.code, result.stdout + result.stderr).toBe(0);
    const { checks } = JSON.parse(result.stdout) as { checks: Array<{ check: string; result: string; summary: string }> };
    expect(checks.find((check) => check.check === 'indexes')).toMatchObject({
      result: 'warn',
      summary: `index health unknown: not authorized: the server refused listIndexes on ${database.name}.users to this user (Unauthorized, code 13); the login worked, a privilege is missing: grant the user the readWrite role on database "${database.name}"`,
    });
  });

  it('status goes on when the user may not list indexes: index health unknown, with why, the figures still measured', async () => {
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) => (seen.command === 'listIndexes' ? unauthorized(seen) : undefined),
    });

    const json = await runCli(['status', '--uri', proxy.uri, '--state-dir', stateDir, '--json']);
    expect(json.code, json.stdout + json.stderr).toBe(0);
    const { figures } = JSON.parse(json.stdout) as { figures: { indexes: unknown; unknown: Record<string, string>; online: number } };
    expect(figures.indexes).toBeNull();
    expect(figures.unknown.indexes).toMatch(/^not authorized: the server refused listIndexes on .*\.users to this user/);
    expect(figures.online).toBeGreaterThanOrEqual(0);

    const text = await runCli(['status', '--uri', proxy.uri, '--state-dir', stateDir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^\s+presence index\s+unknown\s+not authorized/m);
    const prometheus = await runCli(['status', '--uri', proxy.uri, '--state-dir', stateDir, '--format', 'prometheus']);
    expect(prometheus.stdout).toMatch(/^presence_figure_unknown\{collection="users",figure="indexes"\} 1$/m);
    expect(prometheus.stdout).not.toMatch(/^presence_index_missing\{/m);
  });

  it('on a replica set, a user without clusterMonitor runs with replication lag unwatched, and is told why in a few words', async () => {
    proxy = await startTcpProxy(database.uri(), {
      replyWith: (seen) => {
        // The tool's own `hello` (the driver's monitoring sends none with a session): a replica-set primary's answer.
        if (seen.command === 'hello' && messageDocuments(seen.message)[0]?.lsid !== undefined) {
          return { isWritablePrimary: true, setName: 'rs0', maxWriteBatchSize: 100_000, ok: 1 };
        }
        if (seen.command !== 'replSetGetStatus') return undefined;
        return {
          ok: 0,
          errmsg: 'not authorized on admin to execute command { replSetGetStatus: 1, lsid: { id: UUID("3b241101-e2bb-4255-8caf-4136c566a962") }, $db: "admin" }',
          code: 13,
          codeName: 'Unauthorized',
        };
      },
    });

    const result = await stale(proxy.uri, '--json');

    expect(result.code, result.stderr).toBe(0);
    const record = JSON.parse(result.stdout) as TaskRunRecord;
    expect(record.notices).toContain(
      'replication lag not watched: replSetGetStatus refused (this user may not run it); it needs the clusterMonitor role. Writes still wait for the write concern',
    );
    expect(await onlineUsers()).toBe(0);
  });
});
