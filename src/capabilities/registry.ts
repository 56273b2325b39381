/**
 * Host functions and the grants that allow them: the one place where a script's call
 * to the host is checked. It runs on the host side of every placement.
 */
import { describeValue } from '../describe-value.js';
import { InvalidInputError } from '../errors.js';
import type { ScriptValue } from '../values.js';

/**
 * A function the host offers to scripts. Arguments follow DESIGN §4; the result (or what
 * its promise resolves to) is checked when it crosses back, so any return type is accepted here.
 */
export type HostFunction = (...args: any[]) => unknown;

/** What `authorize` sees about a call. */
export interface HostCallInfo {
  engineId: string;
  name: string;
  capability: string;
  args: ScriptValue[];
}

/** What `onHostCall` hears after every call (allowed or not). */
export interface HostCallEvent {
  engineId: string;
  name: string;
  capability: string;
  allowed: boolean;
  ms: number;
  error?: string;
}

/**
 * Built-ins that can stop early when their caller goes (a receive, a fetch) take the
 * call's AbortSignal first. Kept in a module-private map, so a host function given by the
 * embedder is always called with exactly the script's arguments.
 */
const withSignal = new WeakMap<HostFunction, (signal: AbortSignal | undefined, ...args: unknown[]) => unknown>();

/** Makes a host function whose implementation also gets the call's AbortSignal (aborted when the call is stopped). */
export function stoppable(impl: (signal: AbortSignal | undefined, ...args: unknown[]) => unknown): HostFunction {
  const fn: HostFunction = (...args: unknown[]) => impl(undefined, ...args);
  withSignal.set(fn, impl);
  return fn;
}

/** Calls `fn` with the script's arguments, passing `signal` on to a {@link stoppable} one. */
export function invoke(fn: HostFunction, signal: (() => AbortSignal) | undefined, args: unknown[]): unknown {
  const impl = withSignal.get(fn);
  return impl ? impl(signal?.(), ...args) : fn(...args);
}

interface Entry {
  fn: HostFunction;
  capability: string;
  builtin: boolean;
}

const NAME = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;
const PATTERN = /^(\*|[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(\.\*)?)$/;

/** True when `capability` is covered by one of the grant patterns (`log`, `kv.*`, `*`). */
export function granted(patterns: readonly string[], capability: string): boolean {
  for (const p of patterns) {
    if (p === '*' || p === capability) return true;
    if (p.endsWith('.*') && capability.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}

export function checkGrantPattern(p: unknown, where: string): string {
  if (typeof p !== 'string' || !PATTERN.test(p)) {
    throw new InvalidInputError(
      `${where}: ${describeValue(p)} is not a capability pattern; use a name like 'log', a family like 'kv.*', or '*'`,
    );
  }
  return p;
}

export class HostFunctionRegistry {
  private readonly entries = new Map<string, Entry>();

  add(name: unknown, fn: unknown, capability?: unknown, opts: { builtin?: boolean } = {}): void {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new InvalidInputError(
        `host function name ${describeValue(name)} is not valid; use identifiers joined by dots, like 'users.get'`,
      );
    }
    if (typeof fn !== 'function') {
      throw new InvalidInputError(`host function '${name}' must be a function (got ${fn === null ? 'null' : typeof fn})`);
    }
    if (capability !== undefined && (typeof capability !== 'string' || !NAME.test(capability))) {
      throw new InvalidInputError(`capability of host function '${name}' must be a dotted name like 'users.read'`);
    }
    if (this.entries.get(name)?.builtin) {
      throw new InvalidInputError(
        `'${name}' is a built-in host function (grant its capability to use it); register yours under another name`,
      );
    }
    for (const [other, e] of this.entries) {
      if (other.startsWith(`${name}.`) || name.startsWith(`${other}.`)) {
        const what = e.builtin ? `the built-in '${other}'` : `'${other}'`;
        throw new InvalidInputError(`host function '${name}' clashes with ${what}: one cannot be a namespace of the other`);
      }
    }
    this.entries.set(name, {
      fn: fn as HostFunction,
      capability: (capability as string | undefined) ?? name,
      builtin: opts.builtin === true,
    });
  }

  get(name: string): Entry | undefined {
    return this.entries.get(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Every capability some function here declares. */
  capabilities(): string[] {
    return [...new Set([...this.entries.values()].map((e) => e.capability))];
  }
}
