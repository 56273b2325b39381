/**
 * Session snapshots of the wasm Lua backend (docs/session-snapshots.md). The Lua state
 * lives in the wasmoon module's linear memory, so a snapshot is that memory (its non-zero
 * pages: src/session/pages.ts) plus the few numbers JavaScript keeps beside it: the
 * `lua_State*`, the core's registry references, the allocator's count, the stack's
 * scratch buffers (allocated in that heap), and the table indices of the C functions the
 * heap points at. A module booted the same way has the same indices; one that does not
 * refuses the snapshot. Lua has no file system a script reaches (`io` exists only over
 * mounts, the host's files), so there are no files to carry.
 *
 * The payload is untrusted: every number is checked against the heap it comes with before
 * anything is written, and a refusal (SessionRefused) leaves the module untouched.
 */
import { decodeHeap, encodeHeap, heapProblem, type SparseHeap } from '../../src/session/pages.js';
import { packPayload, readCorePayload } from '../../src/session/payload.js';
import { SessionRefused } from '../../src/session/refused.js';
import type { LuaModule } from './lua-api.js';

/** The payload's format: bumped when what it holds changes. */
const FORMAT = 1;
/** Room the module's own data needs in its memory besides the Lua state (limits.memoryBytes caps only Lua's allocations). */
const MODULE_SLACK = 64 * 1024 * 1024;

/** What JavaScript keeps beside the heap (the backend's part; the core adds its registry references). */
export interface LuaBeside {
  L: number;
  memUsed: number;
  scratch: number;
  scratchSize: number;
  lenPtr: number;
  /** Table indices of the allocator, the hook and every pushed C function, in the order they were added. */
  functions: number[];
}

export interface LuaSession {
  heap: SparseHeap;
  beside: LuaBeside;
  /** The core's own numbers (registry references), checked by the core. */
  core: Record<string, unknown>;
}

/** The payload of a session: the memory's non-zero pages, the backend's numbers and the core's. */
export function packLuaSession(m: LuaModule, beside: LuaBeside, core: Record<string, unknown>): Uint8Array {
  const heap = encodeHeap(m.HEAPU8);
  return packPayload({ format: FORMAT, heapSize: heap.size, beside, core }, [heap.bitmap, heap.pages]);
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

/**
 * Reads and checks a payload for this module (its functions, its memory cap); throws
 * SessionRefused naming the problem.
 */
export function readLuaSession(payload: Uint8Array, expect: { functions: number[]; maxBytes: number }): LuaSession {
  const { meta, blobs } = readCorePayload(payload, 'its Lua state', FORMAT);
  if (blobs.length !== 2) throw new SessionRefused('its Lua state does not hold one heap');
  const heap = { size: meta.heapSize as number, bitmap: blobs[0]!, pages: blobs[1]! };
  const bad = heapProblem(heap, expect.maxBytes + MODULE_SLACK);
  if (bad) throw new SessionRefused(bad);
  const b = meta.beside as Record<string, unknown> | undefined;
  if (typeof b !== 'object' || b === null) throw new SessionRefused('its Lua state lacks what the engine keeps beside the heap');
  const inHeap = (v: unknown, room = 1) => isInt(v, 8, heap.size - room);
  if (!inHeap(b.L, 8) || !inHeap(b.lenPtr, 8) || !isInt(b.scratchSize, 1, heap.size) || !inHeap(b.scratch, b.scratchSize as number)) {
    throw new SessionRefused('a pointer of its Lua state lies outside its heap');
  }
  if (!isInt(b.memUsed, 0, expect.maxBytes)) {
    throw new SessionRefused(`its Lua state uses ${String(b.memUsed)} bytes, over this engine's limits.memoryBytes (${expect.maxBytes})`);
  }
  const fns = b.functions;
  if (!Array.isArray(fns) || fns.length !== expect.functions.length || fns.some((f, i) => f !== expect.functions[i])) {
    throw new SessionRefused('its Lua state was built by an engine whose C functions sit elsewhere (another ScriptBox or wasmoon build)');
  }
  const core = meta.core;
  if (typeof core !== 'object' || core === null || Array.isArray(core))
    throw new SessionRefused("its Lua state lacks the engine's references");
  return { heap, beside: b as unknown as LuaBeside, core: core as Record<string, unknown> };
}

/**
 * Writes the session's heap into the module's memory: grown to its size if smaller (the
 * module's own allocator does it), everything past it zeroed (memory never shrinks; the
 * restored allocator ends where the session's did).
 */
export function writeLuaHeap(m: LuaModule, heap: SparseHeap): void {
  // Mallocs grow the memory (their bookkeeping is overwritten just below). One may grow it
  // by less than it asks for (a free chunk at the top counts toward it), so again until it
  // is big enough: each round takes up that free room or grows, a few rounds at most.
  for (let round = 0; m.HEAPU8.length < heap.size; round++) {
    const p = round < 16 ? m._malloc(heap.size - m.HEAPU8.length + 65536) : 0;
    if (!p) throw new Error(`the Lua module could not grow its memory to ${heap.size} bytes`);
  }
  decodeHeap(heap, m.HEAPU8, false);
  m.HEAPU8.fill(0, heap.size);
}
