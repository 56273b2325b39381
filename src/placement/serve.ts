/**
 * Turns one host message into one core call and its answer. Shared by every placement,
 * so a core behaves the same inline, in a worker or in a process.
 */
import type { CoreOutcome, EngineCore } from '../core.js';
import type { ToEngine, ToHost } from '../channel/protocol.js';
import { SESSION_REFUSED } from '../session/refused.js';
import { StoppedRequest } from './stopped.js';

function answer(o: CoreOutcome): ToHost {
  return o.ok ? { t: 'done', value: o.value, defined: o.defined, out: o.out } : { t: 'failed', failure: o.failure, out: o.out };
}

const noOutput = { stdout: '', stderr: '', truncated: false };

/**
 * Something escaped the core (a wasm `RuntimeError: Aborted(...)`, a JS error from a broken
 * runtime): the core is broken, whatever the error's own name says. The name stays in the
 * message; the type is always EngineCrashedError, so it never passes for a script error.
 */
function crashed(e: unknown): ToHost {
  if (e instanceof StoppedRequest) return { t: 'failed', failure: e.failure, out: e.out };
  let name = 'Error';
  let message: string;
  try {
    const err = e as { name?: unknown; message?: unknown };
    if (typeof err?.name === 'string') name = err.name;
    message = typeof err?.message === 'string' ? err.message : String(e);
  } catch {
    // An exotic thrown value (a revoked proxy, a throwing toString): its text is not needed.
    message = 'an unprintable error';
  }
  return {
    t: 'failed',
    failure: { kind: 'crashed', type: 'EngineCrashedError', message: `the engine's core failed: ${name}: ${message.slice(0, 2000)}` },
    out: noOutput,
  };
}

/**
 * A session snapshot the core cannot take or restore: bad input (kind `invalid`, so the
 * engine is not restarted: a core validates a payload before it touches its state).
 */
function sessionFailure(e: unknown, what: string): ToHost {
  const err = e as { name?: unknown; message?: unknown };
  if (err?.name !== SESSION_REFUSED) return crashed(e);
  const message = typeof err.message === 'string' ? err.message.slice(0, 2000) : String(e);
  return { t: 'failed', failure: { kind: 'invalid', type: SESSION_REFUSED, message: `${what}: ${message}` }, out: noOutput };
}

/** A call or method call, answered synchronously when the core answers synchronously (inline's fast path). */
export function serveCall(core: EngineCore, msg: Extract<ToEngine, { t: 'call' | 'callMethod' }>): ToHost | Promise<ToHost> {
  try {
    const o = msg.t === 'call' ? core.call(msg.fn, msg.args, msg, msg.optional) : core.callMethod(msg.handle, msg.method, msg.args, msg);
    return o instanceof Promise ? o.then(answer, crashed) : answer(o);
  } catch (e) {
    return crashed(e);
  }
}

/** Handles a request. Never throws: a broken core answers `crashed`, and the host restarts it. */
export async function serve(core: EngineCore, msg: ToEngine): Promise<ToHost> {
  try {
    switch (msg.t) {
      case 'exec':
        return answer(await core.exec(msg.code, msg));
      case 'load':
        return answer(await core.load(msg.code, msg.name, msg));
      case 'call':
        return answer(await core.call(msg.fn, msg.args, msg, msg.optional));
      case 'create':
        return answer(await core.create(msg.cls, msg.args, msg));
      case 'callMethod':
        return answer(await core.callMethod(msg.handle, msg.method, msg.args, msg));
      case 'getAttr':
        return answer(await core.getAttr(msg.handle, msg.attr, msg));
      case 'release':
        core.release(msg.ids);
        return { t: 'done', value: null, defined: true, out: noOutput };
      case 'install':
        if (!core.install) return crashed(new Error(`the ${core.language} backend installs no packages`));
        return answer(await core.install(msg.wheel, msg.name, { timeoutMs: msg.timeoutMs, stream: false }));
      case 'setHostFunctions':
        core.setHostFunctions(msg.names);
        return { t: 'done', value: null, defined: true, out: noOutput };
      case 'reset':
        await core.reset();
        return { t: 'done', value: null, defined: true, out: noOutput };
      case 'saveSession':
        if (!core.saveSession) return crashed(new Error(`this ${core.language} backend takes no session snapshots`));
        try {
          return { t: 'done', value: await core.saveSession(), defined: true, out: noOutput };
        } catch (e) {
          return sessionFailure(e, 'the engine could not take a session snapshot');
        }
      case 'restoreSession':
        if (!core.restoreSession) return crashed(new Error(`this ${core.language} backend restores no session in place`));
        try {
          core.restoreSession(msg.payload);
          return { t: 'done', value: null, defined: true, out: noOutput };
        } catch (e) {
          return sessionFailure(e, 'the session snapshot was refused');
        }
      case 'stats':
        return { t: 'stats', memoryBytes: core.memoryBytes(), handles: core.handleCount() };
      default:
        return crashed(new Error(`unexpected message ${(msg as { t: string }).t}`));
    }
  } catch (e) {
    return crashed(e);
  }
}
