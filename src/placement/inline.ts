/**
 * The inline placement: the core runs on the caller's thread. No isolation (trusted code
 * only), no way to stop C code that never returns, and host functions must be synchronous.
 * Timeouts still work for script code: the core checks its own deadline.
 */
import type { AsyncHostResult, ToEngine } from '../channel/protocol.js';
import type { CoreEnv, CoreFactory, CoreInit, EngineCore } from '../core.js';
import { failureOf, type Answer, type Connection, type RequestHandlers } from './connection.js';
import { serve, serveCall } from './serve.js';

export async function connectInline(init: CoreInit, createCore: CoreFactory, pyodideModule?: WebAssembly.Module): Promise<Connection> {
  const word = new Int32Array(1);
  let handlers: RequestHandlers | undefined;
  // Inline host functions are synchronous: a "started" call has already finished.
  let asyncIds = 0;
  const finished: AsyncHostResult[] = [];
  const env: CoreEnv = {
    interruptWord: word,
    hostCall: (name, args) => handlers!.hostCallSync(name, args),
    output: (stream, text) => handlers?.output(stream, text),
    hostStart(name, args) {
      const id = ++asyncIds;
      try {
        finished.push({ id, ok: true, value: handlers!.hostCallSync(name, args) });
      } catch (e) {
        finished.push({ id, ok: false, error: failureOf(e) });
      }
      return id;
    },
    hostWait: () => finished.splice(0),
    ...(pyodideModule ? { pyodideModule } : {}),
  };
  let core: EngineCore | undefined = await createCore(init, env);
  const boot = core.bootInfo?.();
  return {
    placement: 'inline',
    canInterrupt: false,
    died: new Promise<Error>(() => {}),
    ...(boot ? { boot } : {}),
    async request(msg: ToEngine, h: RequestHandlers): Promise<Answer> {
      if (!core) throw new Error('inline core was killed');
      handlers = h;
      try {
        return (await serve(core, msg)) as Answer;
      } finally {
        handlers = undefined;
      }
    },
    requestNow(msg, h) {
      if (!core) throw new Error('inline core was killed');
      handlers = h;
      const a = serveCall(core, msg) as Answer | Promise<Answer>;
      if (!(a instanceof Promise)) {
        handlers = undefined;
        return a;
      }
      return a.finally(() => (handlers = undefined));
    },
    interrupt(reason) {
      word[0] = reason;
    },
    clearInterrupt() {
      word[0] = 0;
    },
    async kill() {
      core?.dispose();
      core = undefined;
    },
  };
}
