/**
 * Loads Pyodide for one core: from scratch, or from a memory snapshot (Pyodide's
 * `_loadSnapshot`: the wasm heap of an interpreter that already booted and loaded our
 * runtime), optionally taking such a snapshot on the way (`_makeSnapshot`). A
 * WebAssembly.Module compiled once per process by the placement replaces Pyodide's own
 * fetch + compile of pyodide.asm.wasm.
 *
 * Everything here that changes what ends up in the wasm heap is part of the snapshot key
 * (snapshot-key.ts): the load options below, BOOTSTRAP and RUNTIME_BOOT.
 */
import { PYODIDE_SNAPSHOT_MAGIC as SNAPSHOT_MAGIC } from '../../src/snapshot/pyodide-snapshot.js';
import { copySparsely } from '../../src/snapshot/sparse-copy.js';
import type { CoreInit } from '../../src/core.js';
import { STOPS_JSON } from '../../src/lang/python/failures.js';
import { RUNTIME_PY } from '../../src/lang/python/runtime.py.generated.js';
import { BOOTSTRAP_PY } from './bootstrap.py.generated.js';
import { DEVICE_PATH, VALUE_PATH } from './device.js';
import { zeroUnusedHeap } from './snapshot-heap.js';

export type PyFn<R = string> = ((...args: unknown[]) => R) & { destroy(): void };

interface FSLike {
  makedev(ma: number, mi: number): number;
  registerDevice(dev: number, ops: object): void;
  mkdev(path: string, dev: number): void;
  writeFile(path: string, data: Uint8Array): void;
}

export interface Pyodide {
  FS: FSLike;
  _module: { HEAPU8: Uint8Array; memory?: WebAssembly.Memory };
  _api: { config: Record<string, unknown> };
  globals: { get(name: string): unknown; set(name: string, v: unknown): void; delete(name: string): void };
  runPython(code: string, opts?: { filename?: string }): unknown;
  setInterruptBuffer(b: unknown): void;
  setStdout(o: { write(b: Uint8Array): number }): void;
  setStderr(o: { write(b: Uint8Array): number }): void;
  setStdin(o: { error: boolean }): void;
  makeMemorySnapshot(): Uint8Array;
}

/** Environment of the interpreter (baked into a snapshot: os.environ is read at boot). */
export const PYODIDE_ENV = { HOME: '/home/pyodide' } as const;

/**
 * What bootstrap.py gets as the global `_sb_boot`: the runtime's source and its init()
 * arguments for Pyodide (the device's path, the error table's stop names). Baked into a
 * snapshot, so part of its key.
 */
// init(device, stops_json, io, publish_host, install_globals, values): the others are native CPython's.
export const RUNTIME_BOOT = JSON.stringify([RUNTIME_PY, [DEVICE_PATH, STOPS_JSON, null, null, null, VALUE_PATH]]);

/** Python that runs the runtime into the module `_scriptbox` and calls its init() (bootstrap.py). */
export const BOOTSTRAP = BOOTSTRAP_PY;

type Settings = {
  instantiateWasm?: (
    imports: Record<string, Record<string, unknown>>,
    done: (i: WebAssembly.Instance, m: WebAssembly.Module) => void,
  ) => unknown;
};
type EmModule = {
  HEAP8: Int8Array;
  growMemory(bytes: number): unknown;
  API?: { restoreSnapshot?(snapshot: Uint8Array): unknown };
};
type ModuleFactory = (settings: Settings) => Promise<EmModule>;

/** Pyodide's Emscripten module factory (pyodide.asm.mjs), from the same folder as its wasm. */
async function moduleFactory(indexURL: string | undefined): Promise<ModuleFactory> {
  const spec = indexURL ? `${indexURL}pyodide.asm.mjs` : 'pyodide/pyodide.asm.mjs';
  return ((await import(/* @vite-ignore */ spec)) as { default: ModuleFactory }).default;
}

/** Loads Pyodide's JavaScript ahead of a boot (the imports are cached: load() gets them at once). */
export async function primePython(indexURL?: string): Promise<void> {
  await Promise.all([import('pyodide'), moduleFactory(indexURL)]);
}

/**
 * Wraps the factory: instantiates a precompiled module when there is one, and makes the
 * heap big enough for a snapshot (Pyodide sizes it with INITIAL_MEMORY, which its build
 * ignores: pyodide/pyodide#6254, so a snapshot over the default 30 MiB would not fit).
 */
function hooked(create: ModuleFactory, wasm: WebAssembly.Module | undefined, heap: HeapWriter | undefined): ModuleFactory {
  return async (settings) => {
    // Pyodide's own instantiate closes over the wasm file it read (10 MiB): kept only until
    // the precompiled module has linked, so the engine does not hold it for its life.
    let own = settings.instantiateWasm;
    if (wasm && own) {
      settings.instantiateWasm = (imports, done) => {
        // Pyodide adds these two imports itself (src/core/jsverror.ts); a unique marker is
        // its own fallback where its tiny helper wasm cannot compile (Node 20 lacks wasm GC).
        const marker = Symbol('error marker');
        imports.env!.Jsv_GetError_import = () => marker;
        imports.env!.JsvError_Check = (v: unknown) => v === marker;
        WebAssembly.instantiate(wasm, imports as WebAssembly.Imports).then(
          (instance) => {
            own = undefined;
            done(instance, wasm);
          },
          // A module that does not link (another Pyodide build): Pyodide's own way.
          () => own!(imports, done),
        );
        return {};
      };
    }
    const mod = await create(settings);
    if (heap) {
      if (mod.HEAP8.length < heap.bytes) mod.growMemory(heap.bytes);
      sparseRestore(mod, heap);
    }
    return mod;
  };
}

/**
 * Makes Pyodide's restore write only the pages that hold something (src/snapshot/sparse-copy.ts):
 * about half of a booted interpreter's heap is zero pages (an untouched stack, free memory
 * zeroed before the snapshot was taken: ./snapshot-heap.ts), and copying them would make
 * every one resident. Pyodide still checks the header (it is handed the snapshot without
 * its heap) and the heap ends up equal to the snapshot.
 */
function sparseRestore(mod: EmModule, heap: HeapWriter): void {
  const api = mod.API;
  const own = api?.restoreSnapshot?.bind(api);
  if (!api || !own) return;
  api.restoreSnapshot = (snapshot: Uint8Array) => {
    const heapAt = new DataView(snapshot.buffer, snapshot.byteOffset, 8).getUint32(4, true);
    const conf = own(snapshot.subarray(0, heapAt));
    heap.write(new Uint8Array(mod.HEAP8.buffer));
    return conf;
  };
}

/** How a restore fills the fresh heap: its size, and the writer (a snapshot's heap, or a session's pages). */
export interface HeapWriter {
  bytes: number;
  write(into: Uint8Array): void;
}

/** The heap of a Pyodide snapshot (header and heap in one buffer), written sparsely. */
function snapshotHeap(snapshot: Uint8Array): HeapWriter {
  const bytes = snapshotHeapBytes(snapshot);
  return { bytes, write: (into) => copySparsely(snapshot.subarray(snapshot.byteLength - bytes), into) };
}

/** The heap size a snapshot holds (its header says where the heap starts). */
function snapshotHeapBytes(snapshot: Uint8Array): number {
  if (snapshot.byteLength < 48) throw new Error('the snapshot is too short to be one');
  const head = new Uint32Array(snapshot.buffer, snapshot.byteOffset, 2);
  if (head[0] !== SNAPSHOT_MAGIC) throw new Error("the snapshot does not start with Pyodide's snapshot magic");
  return snapshot.byteLength - head[1]!;
}

async function load(
  init: Pick<CoreInit, 'assetUrls'>,
  wasm: WebAssembly.Module | undefined,
  extra: object,
  heap?: HeapWriter,
): Promise<Pyodide> {
  const indexURL = init.assetUrls?.pyodideIndex;
  const [{ loadPyodide }, create] = await Promise.all([import('pyodide'), moduleFactory(indexURL)]);
  const py = (await loadPyodide({
    ...(indexURL ? { indexURL } : {}),
    // The `js` module sees an empty object, never this realm's globals.
    jsglobals: Object.freeze(Object.create(null)),
    env: { ...PYODIDE_ENV },
    stdout: () => {},
    stderr: () => {},
    checkAPIVersion: true,
    createPyodideModule: hooked(create, wasm, heap) as never,
    ...extra,
  })) as unknown as Pyodide;
  // Pyodide keeps its options; the snapshot bytes are dead weight once restored.
  delete py._api.config._loadSnapshot;
  if ('_makeSnapshot' in extra) {
    // The core takes the snapshot between two calls into Python: the unused memory is
    // zeroed first, so engines that restore it have fewer pages to hold (./snapshot-heap.ts).
    const make = py.makeMemorySnapshot.bind(py);
    py.makeMemorySnapshot = () => {
      zeroUnusedHeap(py._module);
      return make();
    };
  }
  return py;
}

let sharedDecoding: boolean | undefined;

/** Whether this realm's TextDecoder reads views of shared memory (Node does, browsers do not). */
function decodesShared(): boolean {
  if (sharedDecoding === undefined) {
    try {
      new TextDecoder().decode(new Uint8Array(new SharedArrayBuffer(1)));
      sharedDecoding = true;
    } catch {
      sharedDecoding = false;
    }
  }
  return sharedDecoding;
}

export interface Loaded {
  py: Pyodide;
  /** Booted from `init.snapshot`. */
  restored: boolean;
  /** Booted with `_makeSnapshot`: the core must call makeMemorySnapshot at the right moment. */
  making: boolean;
  /** Why `init.snapshot` was not used (then the core booted from scratch and makes a new one). */
  rejected?: string;
  /** Restored by a spare worker before the engine asked. */
  ahead?: boolean;
}

async function restore(init: Pick<CoreInit, 'assetUrls'>, s: Uint8Array, wasm: WebAssembly.Module | undefined): Promise<Pyodide> {
  // A shared buffer is the host's one copy for every engine, read in place where Pyodide
  // can (it decodes the header with a TextDecoder, which browsers refuse on shared
  // memory); nothing here keeps a reference to it once booted (see load and the worker
  // entry). A copy also realigns bytes that arrived at an odd offset inside a frame.
  const usable = s.byteOffset % 4 === 0 && (s.buffer instanceof ArrayBuffer || decodesShared());
  const bytes = usable ? s : s.slice();
  return load(init, wasm, { _loadSnapshot: bytes }, snapshotHeap(bytes));
}

/**
 * Boots an interpreter from a session snapshot (./session.ts, read and checked): Pyodide's
 * restore over the session's header, its heap written from the stored pages.
 */
export async function loadSession(init: CoreInit, header: Uint8Array, heap: HeapWriter, wasm?: WebAssembly.Module): Promise<Loaded> {
  return { py: await load(init, wasm, { _loadSnapshot: header.slice() }, heap), restored: true, making: false };
}

/**
 * A spare worker's restore, done before any engine asks for it (README "Pools and fast
 * start"): the interpreter, or undefined if the snapshot did not restore (the engine that
 * takes the worker then boots the usual way).
 */
export async function restoreAhead(snapshot: Uint8Array, wasm?: WebAssembly.Module): Promise<Loaded | undefined> {
  try {
    return { py: await restore({}, snapshot, wasm), restored: true, making: false };
  } catch {
    return undefined;
  }
}

/**
 * Boots from the snapshot when there is one; if Pyodide refuses it (another build, a
 * damaged heap), boots from scratch and takes a fresh snapshot for the host to keep.
 */
export async function loadPython(init: CoreInit, wasm?: WebAssembly.Module): Promise<Loaded> {
  let rejected: string | undefined;
  if (init.snapshot) {
    try {
      return { py: await restore(init, init.snapshot, wasm), restored: true, making: false };
    } catch (e) {
      rejected = String((e as Error)?.message ?? e)
        .split('\n')[0]!
        .slice(0, 300);
    }
  }
  const making = init.makeSnapshot === true || rejected !== undefined;
  const py = await load(init, wasm, making ? { _makeSnapshot: true } : {});
  return rejected === undefined ? { py, restored: false, making } : { py, restored: false, making, rejected };
}
