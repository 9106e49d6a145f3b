import { RefusedError, SafetyRule, UsageError } from '../../engine/errors.ts';
import type { SteerAnswer } from '../../engine/ports.ts';
import { SteerAction, type SteerRequest } from '../../engine/run-record.ts';
import { steerRules } from '../../engine/steering.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { openSession, operator, targetOf, type Session, type TargetOptions } from '../session.ts';

const WHAT_HAPPENS: Record<SteerAction, string> = {
  pause: 'pauses before its next batch, keeps its lock, and writes nothing until resumed',
  resume: 'writes again within about a second',
  cancel: 'stops after its current batch (audited as cancelled, its backup restorable)',
};

/**
 * `presence pause|resume|cancel <runId>`, from any host that reaches the target: the request is written to the
 * run's record, with who asked and when, and the runner acts on it between batches.
 */
export async function steerCommand(action: SteerAction, runId: string, options: TargetOptions): Promise<number> {
  const session = await openSession(targetOf(options), options);
  try {
    return await askRun(session, action, runId, options);
  } finally {
    await session.close();
  }
}

/** Writes the request to the run's record, or throws saying why the run's status does not allow it. */
export async function askRun(session: Session, action: SteerAction, runId: string, options: TargetOptions): Promise<number> {
  const request: SteerRequest = { action, by: operator(), at: new Date() };
  refusal(runId, action, await session.store.request(runId, request));
  if (outputMode(options.json) === 'json') printJson({ runId, ...request });
  else printLines([`${action} of run ${runId} asked by ${request.by} at ${request.at.toISOString()}: the run ${WHAT_HAPPENS[action]}`]);
  return 0;
}

/** Throws, saying why, when the request was not recorded. */
function refusal(runId: string, action: SteerAction, answer: SteerAnswer): void {
  if (answer.accepted) return;
  if (answer.status === undefined) throw new UsageError(`no run ${runId} in this database (see \`presence runs\` or \`presence history\`)`);
  const pending = answer.pending ? `, and a ${answer.pending.action} asked by ${answer.pending.by} is not acted on yet` : '';
  const allowed = steerRules[action].from.join(' or ');
  throw new RefusedError(`cannot ${action} run ${runId}: it is ${answer.status}${pending} (only a ${allowed} run can be asked to ${action})`, SafetyRule.runStatus);
}
