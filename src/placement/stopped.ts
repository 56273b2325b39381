/**
 * A bookkeeping request (release, stats, setHostFunctions, reset) that ran script code
 * (a `__del__`, a `__gc`, a profile hook) and was stopped by the interrupt word or the
 * memory cap. The EngineCore methods for those return plain values, so a core throws this
 * instead, and serve() answers it as the failure it carries, like a stopped exec.
 */
import type { CapturedOutput, CoreFailure } from '../channel/protocol.js';

export class StoppedRequest extends Error {
  constructor(
    readonly failure: CoreFailure,
    readonly out: CapturedOutput,
  ) {
    super(failure.message);
    this.name = 'StoppedRequest';
  }
}
