/**
 * The run's steps as the page lists them, built from the harness's progress lines: a line
 * `<workload> on <target>` starts a step, any other line says what the current step does.
 */
import type { Skipped } from '../../src/bench/types.js';

export type StepState = 'running' | 'done' | 'failed';

export interface Step {
  label: string;
  state: StepState;
  /** What the step is doing now, or why it failed. */
  detail?: string;
}

const STEP = /^(\S+) on (\S+)$/;

export class StepList {
  readonly steps: Step[] = [];

  constructor(private readonly changed: (steps: readonly Step[]) => void) {}

  /** The harness's `progress` callback. */
  progress(text: string): void {
    const current = this.steps.at(-1);
    if (STEP.test(text)) {
      if (current) this.end(current);
      this.steps.push({ label: text, state: 'running' });
    } else if (current) {
      current.detail = text;
    }
    this.changed(this.steps);
  }

  /** Marks the last step done and every step the report lists as failed with its reason. */
  finish(skipped: readonly Skipped[]): void {
    const current = this.steps.at(-1);
    if (current) this.end(current);
    for (const s of skipped) {
      const step = this.steps.find((x) => x.label === `${s.workload} on ${s.target}`);
      if (step) Object.assign(step, { state: 'failed', detail: s.reason });
    }
    this.changed(this.steps);
  }

  private end(step: Step): void {
    step.state = 'done';
    delete step.detail;
  }

  /** The running step and its place in the list, if one runs. */
  running(): { step: Step; index: number } | undefined {
    const index = this.steps.findIndex((s) => s.state === 'running');
    return index < 0 ? undefined : { step: this.steps[index]!, index };
  }
}
