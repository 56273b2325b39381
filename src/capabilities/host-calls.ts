/**
 * Serves one engine's host calls: looks the function up, checks its capability, quota and
 * the `authorize` hook, runs it, audits it, and checks the result before it crosses back.
 * Every failure reaches the script as a HostCallError (plain data), never the JS error.
 */
import { HostCallError } from '../core.js';
import type { EngineOptions } from '../engine/types.js';
import type { RequestStop } from '../engine/request-stop.js';
import type { RequestHandlers } from '../placement/connection.js';
import { failureOf } from '../placement/connection.js';
import { checkValue, type ScriptValue, type WireHandle } from '../values.js';
import { INPUT_CALL, readInput } from './input.js';
import { granted, invoke, type HostFunctionRegistry } from './registry.js';

export interface HostCallSettings {
  engineId: string;
  registry: HostFunctionRegistry;
  capabilities: string[];
  quotas: [string, number][];
  maxValueDepth: number;
  options: Pick<EngineOptions, 'authorize' | 'onHostCall' | 'onOutput' | 'onInput'>;
  /** Host functions may return RemoteObjects of this engine: they cross as handles. */
  handle?: (v: object, path: string) => WireHandle | undefined;
  /** Counts every call, allowed or not. */
  counted(): void;
}

export class HostCalls {
  private readonly quotaUsed = new Map<string, number>();

  constructor(private readonly s: HostCallSettings) {}

  /**
   * Handlers for one request. `stop` rejects when the request times out or is aborted, so
   * a script waiting on a slow async host function is released at once, and the built-ins
   * still working for it (a channel receive, a fetch) are withdrawn through their signal:
   * a receive whose caller is gone takes no message.
   */
  handlers(stop?: RequestStop): RequestHandlers {
    // Made only for a built-in that takes a signal (see invoke).
    const signal = stop ? () => stop.signal : undefined;
    return {
      hostCall: (name, args) => {
        // A terminal read (./input.ts) is no host function: no grant, quota or audit.
        const fn = name === INPUT_CALL ? () => readInput(this.s.options.onInput, args, false) : this.authorize(name, args, signal);
        const v = fn();
        // A host function that answers at once is answered at once: no promise, no microtask.
        if (!v || typeof (v as Promise<unknown>).then !== 'function') return this.finish(name, v as ScriptValue);
        const run = Promise.resolve(v).then((x) => this.finish(name, x));
        return stop ? Promise.race([run, stop.rejected]) : run;
      },
      hostCallSync: (name, args) => {
        const fn = name === INPUT_CALL ? () => readInput(this.s.options.onInput, args, true) : this.authorize(name, args);
        const v = fn();
        if (v && typeof (v as Promise<unknown>).then === 'function') {
          (v as Promise<unknown>).catch(() => {}); // it was audited; nobody awaits it
          throw new HostCallError({
            type: 'UnavailableError',
            message: `host.${name} returned a Promise, and the inline placement cannot wait for one; make it synchronous or use placement 'worker'`,
          });
        }
        return this.finish(name, v as ScriptValue);
      },
      output: (stream, text) => this.s.options.onOutput?.({ stream, text }),
    };
  }

  private audit(name: string, capability: string, allowed: boolean, started: number, error?: string): void {
    const hook = this.s.options.onHostCall;
    if (!hook) return;
    const ev = { engineId: this.s.engineId, name, capability, allowed, ms: performance.now() - started, ...(error ? { error } : {}) };
    try {
      hook(ev);
    } catch {
      // an audit hook's failure must not change the script's result
    }
  }

  /** Checks the call and returns a thunk that runs the host function. Throws HostCallError when denied. */
  private authorize(name: string, args: ScriptValue[], signal?: () => AbortSignal): () => unknown {
    this.s.counted();
    const started = performance.now();
    const entry = this.s.registry.get(name);
    if (!entry) {
      throw new HostCallError({ type: 'NameError', message: `host.${name} is not a registered host function` });
    }
    if (!granted(this.s.capabilities, entry.capability)) {
      this.audit(name, entry.capability, false, started);
      throw new HostCallError({
        type: 'PermissionError',
        message: `host.${name} needs capability '${entry.capability}', which this engine was not granted`,
      });
    }
    for (const [pattern, max] of this.s.quotas) {
      if (!granted([pattern], entry.capability)) continue;
      const used = this.quotaUsed.get(pattern) ?? 0;
      if (used >= max) {
        this.audit(name, entry.capability, false, started, 'quota used up');
        throw new HostCallError({
          type: 'PermissionError',
          message: `host.${name} is over its quota: limits.hostCalls['${pattern}'] allows ${max} call${max === 1 ? '' : 's'} per engine`,
        });
      }
      this.quotaUsed.set(pattern, used + 1);
    }
    const authorize = this.s.options.authorize;
    return () => {
      const deny = () => {
        this.audit(name, entry.capability, false, started);
        throw new HostCallError({ type: 'PermissionError', message: `host.${name} was denied by the authorize hook` });
      };
      const fail = (e: unknown) => {
        if (e instanceof HostCallError) throw e;
        const err = e as Error;
        this.audit(name, entry.capability, true, started, String(err?.message ?? e));
        throw new HostCallError(failureOf(e));
      };
      const allowed = (v: unknown) => {
        this.audit(name, entry.capability, true, started);
        return v;
      };
      try {
        if (authorize) {
          const ok = authorize({ engineId: this.s.engineId, name, capability: entry.capability, args });
          if (ok && typeof (ok as Promise<boolean>).then === 'function') {
            return (ok as Promise<boolean>).then((v) => (v ? invoke(entry.fn, signal, args) : deny())).then(allowed, fail);
          }
          if (!ok) deny();
        }
        const v = invoke(entry.fn, signal, args);
        if (v && typeof (v as Promise<unknown>).then === 'function') return (v as Promise<unknown>).then(allowed, fail);
        return allowed(v);
      } catch (e) {
        return fail(e);
      }
    };
  }

  private finish(name: string, v: unknown): ScriptValue {
    try {
      const root = `result of host.${name}`;
      return checkValue(v, { maxDepth: this.s.maxValueDepth, root, ...(this.s.handle ? { handle: this.s.handle } : {}) });
    } catch (e) {
      throw new HostCallError({
        type: (e as Error).name === 'DisposedError' ? 'DisposedError' : 'InvalidInputError',
        message: (e as Error).message,
      });
    }
  }
}
