/**
 * The one error table at work (src/engine/failures.ts): every failure kind a core reports
 * becomes the class and code FAILURES names, `exec` gets the table's script-side type, and
 * the endings only the host sees are their class directly, carrying how `exec` reports them.
 */
import { describe, expect, it } from 'vitest';
import type { CoreFailure } from '../../src/channel/protocol.js';
import { endedError, errorOf, execEndingOf, execErrorOf } from '../../src/engine/failures.js';
import {
  AbortError,
  DisposedError,
  EngineCrashedError,
  FAILURES,
  FAILURE_KINDS,
  InterruptedError,
  InvalidInputError,
  MemoryLimitError,
  ScriptError,
  TimeoutError,
  UnavailableError,
  type FailureKind,
} from '../../src/errors.js';

const CLASS: Record<FailureKind, new (...a: never[]) => Error> = {
  script: ScriptError,
  timeout: TimeoutError,
  interrupted: InterruptedError,
  aborted: AbortError,
  memory: MemoryLimitError,
  invalid: InvalidInputError,
  crashed: EngineCrashedError,
};

const failure = (kind: FailureKind, extra: Partial<CoreFailure> = {}): CoreFailure => ({
  kind,
  type: FAILURES[kind].scriptType ?? 'ValueError',
  message: 'm',
  ...extra,
});

describe('errorOf: a failure the core reported', () => {
  it.each(FAILURE_KINDS)('%s becomes the class and code of its row', (kind) => {
    const err = errorOf(failure(kind));
    expect(err).toBeInstanceOf(CLASS[kind]);
    expect(err.code).toBe(FAILURES[kind].code);
    expect(err.name).toBe(CLASS[kind].name);
  });

  it('a host-requested stop is InterruptedError, not a script error', () => {
    const err = errorOf(failure('interrupted', { message: 'the script was interrupted' }));
    expect(err).toBeInstanceOf(InterruptedError);
    expect(err).not.toBeInstanceOf(ScriptError);
    expect(err.code).toBe('INTERRUPTED');
    expect((err as InterruptedError).escalation).toBe('interrupted');
  });

  it('a stop in place says so; memory and crashes say the engine restarts', () => {
    expect((errorOf(failure('timeout')) as TimeoutError).escalation).toBe('interrupted');
    expect(errorOf(failure('memory')).message).toBe('m; the engine was restarted');
    expect(errorOf(failure('crashed')).message).toBe('m; the engine restarts on the next call');
  });

  it('a script error keeps its type, traceback and line', () => {
    const err = errorOf(failure('script', { type: 'ValueError', message: 'bad', traceback: 'tb', line: 3 })) as ScriptError;
    expect(err).toMatchObject({ code: 'SCRIPT_ERROR', type: 'ValueError', traceback: 'tb', line: 3, message: 'ValueError: bad' });
  });

  it('an invalid failure names the finer class the core chose, and keeps the path', () => {
    expect(errorOf(failure('invalid', { type: 'UnavailableError' }))).toBeInstanceOf(UnavailableError);
    expect(errorOf(failure('invalid', { type: 'DisposedError' }))).toBeInstanceOf(DisposedError);
    expect((errorOf(failure('invalid', { path: 'args[0]' })) as InvalidInputError).path).toBe('args[0]');
  });
});

describe('execErrorOf: the same failure as exec data', () => {
  it('keeps the language type, except where the core broke', () => {
    expect(execErrorOf(failure('script', { type: 'RuntimeError', line: 2 }))).toEqual({ type: 'RuntimeError', message: 'm', line: 2 });
    expect(execErrorOf(failure('interrupted')).type).toBe('Interrupted');
    expect(execErrorOf(failure('timeout')).type).toBe('TimeoutError');
    expect(execErrorOf(failure('memory', { type: 'RuntimeError' })).type).toBe('MemoryLimitError');
    expect(execErrorOf(failure('crashed', { type: 'RuntimeError' })).type).toBe('EngineCrashedError');
  });
});

describe('endedError: endings only the host sees', () => {
  it('a timeout that needed a kill is TimeoutError, escalation restarted; exec reports it timed out', () => {
    const err = endedError('timeout', 'killed');
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).escalation).toBe('restarted');
    expect(execEndingOf(err)).toEqual({ error: { type: 'TimeoutError', message: 'killed' }, timedOut: true });
  });

  it('an interrupt that needed a kill is InterruptedError, escalation restarted', () => {
    const err = endedError('interrupted', 'killed');
    expect(err).toBeInstanceOf(InterruptedError);
    expect((err as InterruptedError).escalation).toBe('restarted');
    expect(execEndingOf(err)).toEqual({ error: { type: 'Interrupted', message: 'killed' }, timedOut: false });
  });

  it('a crash is EngineCrashedError; exec reports the words without the restart note', () => {
    const err = endedError('crashed', 'the worker died');
    expect(err).toBeInstanceOf(EngineCrashedError);
    expect(err.message).toBe('the worker died; the engine restarts on the next call');
    expect(execEndingOf(err)).toEqual({ error: { type: 'EngineCrashedError', message: 'the worker died' }, timedOut: false });
  });

  it('anything else is not an ending exec reports as data', () => {
    expect(execEndingOf(new EngineCrashedError('could not restart'))).toBeUndefined();
    expect(execEndingOf(errorOf(failure('timeout')))).toBeUndefined();
    expect(execEndingOf(undefined)).toBeUndefined();
    expect(execEndingOf('x')).toBeUndefined();
  });
});
