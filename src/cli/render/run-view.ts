import { ListrEnquirerPromptAdapter } from '@listr2/prompt-adapter-enquirer';
import { Listr, ListrLogger, type ListrDefaultRenderer, type ListrSimpleRenderer, type ListrTask, type ListrTaskWrapper } from 'listr2';
import { SilentObserver } from '../../engine/observer.ts';
import type { PlanReport } from '../../engine/plan.ts';
import type { RunObserver } from '../../engine/ports.ts';
import type { ProgressState, RunProgress, RunRecord } from '../../engine/run-record.ts';
import { concernsLine, planLines, progressBar, stepSummary } from '../../views/format.ts';
import type { OutputMode } from './output.ts';
import { etaOf, rateOf } from '../../views/progress.ts';

export const RUN_STEPS = ['connect', 'lock', 'plan', 'confirm', 'backup', 'apply', 'verify', 'audit'] as const;

type StepTask = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;

type Outcome =
  | { kind: 'done'; title: string }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; message: string }
  | { kind: 'no run' };

interface StepState {
  outcome: Promise<Outcome>;
  settle(outcome: Outcome): void;
  settled: boolean;
  task?: StepTask;
  details: string[];
  lastProgressAt: number;
  /** Set once the engine reports the step's rate and ETA: its bare counts are then not shown on their own. */
  lastProgressState?: ProgressState;
  /** A question for the operator, asked from inside the step's Listr task. */
  question?: { text: string; answer(text: string): void };
  onQuestion?: () => void;
}

/** A run as the operator watches it: a RunObserver that also shows the CLI's own steps. */
export interface RunView extends RunObserver {
  show<T>(work: () => Promise<T>): Promise<T>;
  /** A step run by the CLI itself (connect), shown like the engine's. */
  step<T>(step: string, work: () => Promise<T>, summary: (result: T) => string): Promise<T>;
  /** Asks the operator (confirmation on production); undefined where nobody can answer. */
  readonly ask?: (question: string) => Promise<string>;
}

export function createRunView(mode: OutputMode, steps: readonly string[] = RUN_STEPS): RunView {
  return mode === 'json' ? new SilentRunView() : new ListrRunView(mode, steps, mode === 'tty' && process.stdin.isTTY === true);
}

class SilentRunView extends SilentObserver implements RunView {
  show<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }
  step<T>(_step: string, work: () => Promise<T>): Promise<T> {
    return work();
  }
}

/**
 * Listr2 draws one line per step with its counts and a progress bar for the
 * long ones; without a terminal it falls back to plain lines (the `simple`
 * renderer), with progress lines throttled so logs stay readable.
 */
class ListrRunView implements RunView {
  private readonly states = new Map<string, StepState>();
  private readonly progressEveryMs: number;

  readonly ask?: (question: string) => Promise<string>;

  constructor(
    private readonly mode: Exclude<OutputMode, 'json'>,
    private readonly steps: readonly string[],
    interactive: boolean,
  ) {
    this.progressEveryMs = mode === 'tty' ? 100 : 2000;
    if (interactive) this.ask = (question) => this.askIn('confirm', question);
  }

  private askIn(step: string, text: string): Promise<string> {
    const state = this.state(step);
    return new Promise((answer) => {
      state.question = { text, answer };
      state.onQuestion?.();
    });
  }

  /** Waits for the step to end, answering any question asked meanwhile with a prompt. */
  private async outcomeOf(state: StepState, task: StepTask): Promise<Outcome> {
    for (;;) {
      const next = await new Promise<'question' | 'outcome'>((resolve) => {
        state.onQuestion = () => resolve('question');
        if (state.question) resolve('question');
        void state.outcome.then(() => resolve('outcome'));
      });
      if (next === 'outcome') return state.outcome;
      const question = state.question!;
      state.question = undefined;
      const answer = await task
        .prompt(ListrEnquirerPromptAdapter)
        .run<string>({ type: 'input', message: question.text })
        .catch(() => '');
      question.answer(answer);
    }
  }

  private state(step: string): StepState {
    let state = this.states.get(step);
    if (!state) {
      let settle!: (outcome: Outcome) => void;
      const outcome = new Promise<Outcome>((resolve) => (settle = resolve));
      const created: StepState = {
        outcome,
        settled: false,
        details: [],
        lastProgressAt: 0,
        settle: (value) => {
          if (created.settled) return;
          created.settled = true;
          settle(value);
        },
      };
      state = created;
      this.states.set(step, state);
    }
    return state;
  }

  stepStarted(step: string): void {
    this.state(step);
  }

  stepProgress(step: string, done: number, total: number): void {
    const state = this.state(step);
    const now = Date.now();
    if (state.lastProgressState !== undefined) return;
    if (!state.task || (now - state.lastProgressAt < this.progressEveryMs && done < total)) return;
    state.lastProgressAt = now;
    state.task.output = progressBar(done, total);
  }

  /** A change of state (paused, throttled) is shown at once; the counts as often as the bare ones. */
  runProgress(progress: RunProgress): void {
    const state = this.state(progress.step);
    const now = Date.now();
    const changed = progress.state !== state.lastProgressState;
    state.lastProgressState = progress.state;
    if (!state.task || (!changed && now - state.lastProgressAt < this.progressEveryMs && progress.done < progress.planned)) return;
    state.lastProgressAt = now;
    state.task.output = `${progressBar(progress.done, progress.planned)} · ${rateOf(progress)} · ${etaOf(progress)}`;
  }

  stepFinished(step: string, record: Readonly<RunRecord>): void {
    if (step === 'plan' && record.concerns) this.state(step).details.push(concernsLine(record.concerns));
    this.state(step).settle({ kind: 'done', title: stepSummary(step, record) });
  }

  stepSkipped(step: string, reason: string): void {
    this.state(step).settle({ kind: 'skipped', reason });
  }

  stepFailed(step: string, message: string): void {
    this.state(step).settle({ kind: 'failed', message });
  }

  /** Said by the engine as the run ends: the record keeps this step's result as not reached. */
  stepNotReached(step: string): void {
    this.state(step).settle({ kind: 'skipped', reason: 'not reached' });
  }

  planned(report: PlanReport): void {
    this.state('plan').details.push(...planLines(report));
  }

  notice(message: string): void {
    const current = this.steps.find((step) => !this.state(step).settled) ?? this.steps.at(-1)!;
    this.state(current).details.push(`note: ${message}`);
  }

  async step<T>(step: string, work: () => Promise<T>, summary: (result: T) => string): Promise<T> {
    const state = this.state(step);
    try {
      const result = await work();
      state.settle({ kind: 'done', title: summary(result) });
      return result;
    } catch (error) {
      state.settle({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  async show<T>(work: () => Promise<T>): Promise<T> {
    const tasks: ListrTask<unknown, ListrDefaultRenderer, ListrSimpleRenderer>[] = this.steps.map((step) => ({
        title: step,
        task: async (_context: unknown, task: StepTask) => {
          const state = this.state(step);
          state.task = task;
          const outcome = await this.outcomeOf(state, task);
          if (state.details.length > 0) task.output = state.details.join('\n');
          if (outcome.kind === 'skipped') return task.skip(outcome.reason);
          if (outcome.kind === 'no run') return task.skip('no run');
          if (outcome.kind === 'failed') throw new Error(`${step}: ${outcome.message}`);
          task.title = `${step}: ${outcome.title}`;
        },
        // One entry at a time: the latest progress bar, or at the end the step's details.
        rendererOptions: { persistentOutput: true, outputBar: 1 },
      }));
    const listr = new Listr<unknown, 'default', 'simple'>(tasks, {
      concurrent: false,
      exitOnError: false,
      // Ctrl-C is ours: the run stops after its current batch and is audited.
      registerSignalListeners: false,
      renderer: 'default',
      fallbackRenderer: 'simple',
      fallbackRendererCondition: this.mode !== 'tty',
      rendererOptions: { collapseErrors: false },
      // Steps are progress, on stdout; stderr keeps the one-line error the CLI prints.
      fallbackRendererOptions: { logger: new ListrLogger({ toStderr: [] }) },
    });
    const rendering = listr.run().catch(() => undefined);
    try {
      return await work();
    } finally {
      // Steps the engine never heard of: no run began (the connection failed, or a `once` task was already applied).
      for (const step of this.steps) this.state(step).settle({ kind: 'no run' });
      await rendering;
    }
  }
}
