/**
 * The script's terminal: what Python's `input()` / `sys.stdin` and Lua's `io.read()` wait
 * for. A read travels as a host call under a name no host function can have (registered
 * names are dotted identifiers), so it blocks, is stopped by a timeout or an interrupt,
 * and crosses every placement exactly like a host function call; the host answers it with
 * the engine's `onInput` option. No capability guards it: the host opted in by passing
 * `onInput`, and without it a read sees end of input.
 */
import { HostCallError } from '../core.js';
import type { EngineOptions } from '../engine/types.js';

/** The host-call name of a terminal read (runtime.py `_input`, prelude.lua `io.read`). */
export const INPUT_CALL = '@input';

/** The failure type a read without `onInput` answers: Python raises EOFError, Lua's io.read returns nil. */
export const NO_INPUT = 'EOFError';

const NO_INPUT_MESSAGE =
  'there is no input: the host gave no onInput option (createEngine({ onInput: (prompt) => line })), so reads see end of input';

/**
 * Answers one read: the line `onInput` gave, or null at end of input. `sync`: the caller
 * cannot wait (the inline placement), so a promise is refused with a message that says so.
 */
export function readInput(onInput: EngineOptions['onInput'], args: unknown[], sync: boolean): string | null | Promise<string | null> {
  if (!onInput) throw new HostCallError({ type: NO_INPUT, message: NO_INPUT_MESSAGE });
  const prompt = typeof args[0] === 'string' ? args[0] : '';
  let answer: unknown;
  try {
    answer = onInput(prompt);
  } catch (e) {
    throw new HostCallError({ type: 'HostError', message: `onInput failed: ${(e as Error)?.message ?? String(e)}` });
  }
  if (answer && typeof (answer as Promise<unknown>).then === 'function') {
    if (sync) {
      (answer as Promise<unknown>).catch(() => {}); // refused below; nobody awaits it
      throw new HostCallError({
        type: 'UnavailableError',
        message: "onInput returned a Promise, and the inline placement cannot wait for one; answer synchronously or use placement 'worker'",
      });
    }
    return (answer as Promise<unknown>).then(line, (e: unknown) => {
      throw new HostCallError({ type: 'HostError', message: `onInput failed: ${(e as Error)?.message ?? String(e)}` });
    });
  }
  return line(answer);
}

function line(answer: unknown): string | null {
  if (answer === null || answer === undefined) return null;
  if (typeof answer !== 'string') {
    throw new HostCallError({
      type: 'InvalidInputError',
      message: `onInput must answer a string or null (end of input), not a ${typeof answer}`,
    });
  }
  return answer;
}
