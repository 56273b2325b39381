/**
 * What a Lua backend gives the shared Lua core (core.ts): a state to run in, the stack
 * calls on it, and the limits around script code. wasm/lua (wasmoon, Lua 5.4) and
 * native-bridge/luajit (LuaJIT 2.1) each implement it; everything else about a request is
 * the core's, and the same for both.
 */
import type { CoreFailure } from '../../channel/protocol.js';
import type { Stop } from './failures.js';
import type { LuaStack } from './stack.js';

/**
 * A backend's side of session snapshots (docs/session-snapshots.md): its memory and what it
 * keeps beside it, with the core's own numbers (`core`). Absent on backends that take
 * none (LuaJIT: its state is native memory).
 */
export interface LuaSessions {
  save(core: Record<string, unknown>): Uint8Array;
  /**
   * Reads and checks a payload (throws SessionRefused, nothing changed); `apply` then
   * writes it into the module and answers the restored state's `lua_State*`.
   */
  read(payload: Uint8Array): { core: Record<string, unknown>; apply(): number };
}

export interface LuaBackend {
  /** Session snapshots, where the backend takes them. */
  readonly sessions?: LuaSessions;
  readonly stack: LuaStack;
  /** The version's shim (shim-5.4.lua, shim-jit.lua): run before the shared prelude. */
  readonly shim: string;
  /**
   * True when a script can change the host table in place (a Lua 5.4 table cannot refuse
   * rawset): each request then starts by asking the prelude for a clean one.
   */
  readonly hostCanChange: boolean;
  /** Why the current request must stop; null while nothing asked. The core sets it from the interrupt word too. */
  stop: Stop;
  /** A fresh state with every standard library open (the old one is closed). Throws when it cannot. */
  open(): number;
  /** The state is built: from now on the memory cap binds only inside `scriptCall`. */
  booted(L: number): void;
  close(L: number): void;
  /** Pushes a C function whose body is `fn` (the same `fn` is registered once). */
  pushFunction(L: number, fn: (L: number) => number): void;
  /** lua_pcall of script code: the memory cap on and the hook armed, here and nowhere else. */
  scriptCall(L: number, nargs: number, nresults: number, msgh: number): number;
  /** Starts a request (or a bookkeeping step, with Infinity): no stop, a fresh deadline, the periodic hook. */
  begin(L: number, timeoutMs: number): void;
  /** Ends one. */
  end(L: number): void;
  /**
   * An exception that must not become a Lua error nor a host-call failure (a wasm trap):
   * it unwinds to the request, which answers `broke(e)`.
   */
  fatal(e: unknown): boolean;
  /** The failure for an exception that escaped a request, marking the backend broken; null: not one of its own. */
  broke(e: unknown): CoreFailure | null;
  /** Set once the backend broke: every later request answers it, and bookkeeping throws. */
  readonly broken: CoreFailure | null;
  memoryBytes(): number;
  dispose(): void;
}
