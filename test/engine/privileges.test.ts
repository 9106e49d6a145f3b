import { MongoServerError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { ExitCode, exitCodeOf, MaintenanceError } from '../../src/engine/errors.ts';
import { privilegeErrorOf } from '../../src/engine/privileges.ts';

/** The driver's error for a server reply, as MongoDB 6.0–8.0 and Atlas word it. */
function refusal(errmsg: string, code = 13, codeName = 'Unauthorized'): MongoServerError {
  return new MongoServerError({ ok: 0, errmsg, code, codeName });
}

describe("a refused privilege, read from the server's message", () => {
  it('names the command and the collection, never the values the command carried', () => {
    const error = privilegeErrorOf(
      refusal('not authorized on app to execute command { find: "users", filter: { email: "ada@example.com" }, lsid: { id: UUID("3b241101-e2bb-4255-8caf-4136c566a962") }, $db: "app" }'),
    );
    expect(error?.refused).toEqual({ action: 'find', namespace: 'app.users', database: 'app', loginRequired: false });
    expect(error?.message).not.toContain('ada@example.com');
    expect(error && exitCodeOf(error)).toBe(ExitCode.database);
  });

  it('a database or cluster command names the database, and asks for clusterMonitor on admin', () => {
    const error = privilegeErrorOf(refusal('not authorized on admin to execute command { replSetGetStatus: 1, $db: "admin" }'));
    expect(error?.refused).toMatchObject({ action: 'replSetGetStatus', namespace: 'admin' });
    expect(error?.message).toMatch(/grant the user the clusterMonitor role$/);
  });

  it("Atlas's AtlasError 8000", () => {
    const error = privilegeErrorOf(refusal('user is not allowed to do action [update] on [app.users]', 8000, 'AtlasError'));
    expect(error?.refused).toEqual({ action: 'update', namespace: 'app.users', database: 'app', loginRequired: false });
    expect(error?.message).toContain('(AtlasError, code 8000)');
  });

  it('is found behind the error that wraps it (a failed write, a failed step)', () => {
    const server = refusal('not authorized on app to execute command { update: "users", ordered: true, $db: "app" }');
    const wrapped = new MaintenanceError('task x: write of document 1 failed', ExitCode.failed, { cause: server });
    expect(privilegeErrorOf(wrapped)?.refused.action).toBe('update');
  });

  it('a failed login (18) and other errors are not privilege errors', () => {
    expect(privilegeErrorOf(refusal('Authentication failed.', 18, 'AuthenticationFailed'))).toBeUndefined();
    expect(privilegeErrorOf(refusal('E11000 duplicate key error', 11000, 'DuplicateKey'))).toBeUndefined();
    expect(privilegeErrorOf(new Error('not authorized on app to execute command { find: "users" }'))).toBeUndefined();
  });
});
