/**
 * Session snapshots of a Pyodide core (docs/session-snapshots.md): the interpreter after
 * user code ran, as bytes, and back in a new interpreter. What a snapshot holds:
 *
 * - the wasm heap, through Pyodide's own memory snapshot (its header: the JavaScript
 *   references Python holds, which for a sealed engine are none), stored as its non-zero
 *   pages (src/session/pages.ts);
 * - the in-engine file system, which lives on the JavaScript side (MEMFS): every file,
 *   directory and link but the devices, /proc, the mounts (host files, reached by host
 *   calls) and the standard library's zip (part of the runtime, checked by its version);
 * - the files a script holds open, reopened at their descriptors with their positions.
 *
 * Restoring runs Pyodide's own restore (boot.ts, as for the start-up snapshot) over these
 * bytes, which the host checked (src/session/format.ts) but which are still treated as
 * untrusted here: the Pyodide header may name no JavaScript object (only the strings
 * Pyodide keeps), every path and length is checked, and after the restore the reference
 * table Pyodide refilled is emptied again, as it was when the snapshot was taken.
 */
import { decodeHeap, encodeHeap, heapProblem, type SparseHeap } from '../../src/session/pages.js';
import { packPayload, readCorePayload } from '../../src/session/payload.js';
import { SessionRefused } from '../../src/session/refused.js';
import { PYODIDE_SNAPSHOT_HEADER_BYTES, PYODIDE_SNAPSHOT_MAGIC } from '../../src/snapshot/pyodide-snapshot.js';
import type { Pyodide, PyFn } from './boot.js';
import { DEVICE_PATH, VALUE_PATH } from './device.js';
import { zeroUnusedHeap } from './snapshot-heap.js';

/** The payload's own format: bumped when what it holds changes. */
const FORMAT = 1;
/** The standard library, loaded by Pyodide at every start: part of the runtime, not of a session. */
const STDLIB_ZIP = /^\/lib\/python\d+\.zip$/;
const SKIPPED = new Set(['/dev', '/proc']);
/** The descriptors below this are stdio and the runtime's devices, opened again by the runtime. */
const FIRST_USER_FD = 3;

interface FSNode {
  mode: number;
}
interface FSStream {
  fd: number;
  path: string;
  flags: number;
  position: number;
  node: FSNode;
}
interface SessionFS {
  readdir(path: string): string[];
  lstat(path: string): { mode: number; size: number };
  isDir(mode: number): boolean;
  isFile(mode: number): boolean;
  isLink(mode: number): boolean;
  readlink(path: string): string;
  readFile(path: string): Uint8Array;
  writeFile(path: string, data: Uint8Array): void;
  mkdirTree(path: string, mode?: number): void;
  symlink(target: string, path: string): void;
  chmod(path: string, mode: number): void;
  analyzePath(path: string): { exists: boolean };
  unlink(path: string): void;
  rmdir(path: string): void;
  open(path: string, flags: number): FSStream;
  close(stream: FSStream): void;
  dupStream(stream: FSStream, fd: number): FSStream;
  streams: (FSStream | null | undefined)[];
}
interface SessionModule {
  HEAP8: Int8Array;
  HEAPU8: Uint8Array;
  growMemory(bytes: number): unknown;
  __hiwire_get(i: number): unknown;
  __hiwire_set(i: number, v: unknown): number;
}
interface SessionApi {
  config: Record<string, unknown>;
  getExpectedKeys(): unknown[];
  makeSnapshot(serializer?: unknown): Uint8Array;
}

/** The runtime entries a session snapshot uses (runtime.py "session snapshots"). */
export interface SessionEntries {
  session_save: PyFn<void>;
  session_saved: PyFn<void>;
}

type FileEntry =
  | { path: string; kind: 'dir'; mode: number }
  | { path: string; kind: 'file'; mode: number; blob: number }
  | { path: string; kind: 'link'; target: string };
type StreamEntry = { fd: number; path: string; flags: number; position: number };

function parts(py: Pyodide): { FS: SessionFS; M: SessionModule; api: SessionApi } {
  return { FS: py.FS as unknown as SessionFS, M: py._module as unknown as SessionModule, api: py._api as unknown as SessionApi };
}

function under(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => path === r || path.startsWith(r.endsWith('/') ? r : `${r}/`));
}

/** Calls `visit` for every path a session carries, a directory before what it holds. */
function walkCarried(FS: SessionFS, mounts: readonly string[], visit: (path: string, mode: number) => void): void {
  const walk = (dir: string) => {
    for (const name of FS.readdir(dir)) {
      if (name === '.' || name === '..') continue;
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      if (SKIPPED.has(path) || STDLIB_ZIP.test(path) || under(path, mounts)) continue;
      const mode = FS.lstat(path).mode;
      visit(path, mode);
      if (FS.isDir(mode) && !FS.isLink(mode)) walk(path);
    }
  };
  walk('/');
}

/** The file system as a session holds it: entries in creation order (a directory before what it holds). */
function captureFiles(FS: SessionFS, mounts: readonly string[], blobs: Uint8Array[]): FileEntry[] {
  const out: FileEntry[] = [];
  walkCarried(FS, mounts, (path, mode) => {
    if (FS.isLink(mode)) out.push({ path, kind: 'link', target: FS.readlink(path) });
    else if (FS.isDir(mode)) out.push({ path, kind: 'dir', mode: mode & 0o7777 });
    else if (FS.isFile(mode)) {
      blobs.push(FS.readFile(path));
      out.push({ path, kind: 'file', mode: mode & 0o7777, blob: blobs.length - 1 });
    }
    // Anything else (a device node a script cannot make) is not carried.
  });
  return out;
}

/** The regular files a script holds open (not stdio, not the runtime's devices, not mounted files). */
function captureStreams(FS: SessionFS, files: FileEntry[]): StreamEntry[] {
  const carried = new Set(files.filter((f) => f.kind === 'file').map((f) => f.path));
  const out: StreamEntry[] = [];
  FS.streams.forEach((s, fd) => {
    if (!s || fd < FIRST_USER_FD || s.path === DEVICE_PATH || s.path === VALUE_PATH || !carried.has(s.path)) return;
    out.push({ fd, path: s.path, flags: s.flags, position: s.position });
  });
  return out;
}

/**
 * Takes the session snapshot of a sealed, idle interpreter: the core's part of a session
 * snapshot (the host wraps it: src/session/format.ts). `mounts`: the engine's mount
 * points, whose files are the host's and stay out.
 */
export function takePythonSession(py: Pyodide, rt: SessionEntries, mounts: readonly string[], tainted: boolean): Uint8Array {
  const { FS, M, api } = parts(py);
  const expected = api.getExpectedKeys();
  const held: unknown[] = [];
  let snap: Uint8Array;
  rt.session_save();
  const had = api.config._makeSnapshot;
  try {
    // A sealed engine holds no JavaScript object (the lockdown dropped them all, so the
    // table's fixed entries are empty too); Pyodide checks the fixed entries are its own.
    for (let i = 1; i < expected.length; i++) {
      held.push(M.__hiwire_get(i));
      M.__hiwire_set(i, expected[i]);
    }
    api.config._makeSnapshot = true;
    zeroUnusedHeap(py._module);
    snap = api.makeSnapshot();
  } finally {
    api.config._makeSnapshot = had;
    held.forEach((v, i) => M.__hiwire_set(i + 1, v));
    rt.session_saved();
  }
  const heapAt = new DataView(snap.buffer, snap.byteOffset, 8).getUint32(4, true);
  const heap = encodeHeap(snap.subarray(heapAt));
  const blobs: Uint8Array[] = [snap.slice(0, heapAt), heap.bitmap, heap.pages];
  const files = captureFiles(FS, mounts, blobs);
  const streams = captureStreams(FS, files);
  return packPayload({ format: FORMAT, heapSize: heap.size, files, streams, tainted }, blobs);
}

/** A session payload read and checked, ready to restore. */
export interface PythonSession {
  /** Pyodide's snapshot header (no heap): what Pyodide's restore reads. */
  header: Uint8Array;
  heap: SparseHeap;
  files: FileEntry[];
  fileBlobs: Uint8Array[];
  streams: StreamEntry[];
  /** The engine it was taken from had been tainted (runtime.py _TAINTING): this one starts so. */
  tainted: boolean;
}

const PATH = /^\/[^\0]*$/;

function isEntry(f: unknown, blobCount: number): f is FileEntry {
  const e = f as Record<string, unknown>;
  if (typeof e !== 'object' || e === null || typeof e.path !== 'string' || !PATH.test(e.path) || e.path.length > 4096) return false;
  if (e.path.split('/').some((p) => p === '.' || p === '..') || under(e.path, ['/dev', '/proc'])) return false;
  if (e.kind === 'link') return typeof e.target === 'string' && e.target.length <= 4096 && !e.target.includes('\0');
  if (!Number.isInteger(e.mode) || (e.mode as number) < 0 || (e.mode as number) > 0o7777) return false;
  if (e.kind === 'dir') return true;
  return e.kind === 'file' && Number.isInteger(e.blob) && (e.blob as number) >= 3 && (e.blob as number) < blobCount;
}

function isStream(s: unknown): s is StreamEntry {
  const e = s as Record<string, unknown>;
  return (
    typeof e === 'object' &&
    e !== null &&
    Number.isInteger(e.fd) &&
    (e.fd as number) >= FIRST_USER_FD &&
    (e.fd as number) < 4096 &&
    typeof e.path === 'string' &&
    Number.isInteger(e.flags) &&
    Number.isSafeInteger(e.position) &&
    (e.position as number) >= 0
  );
}

/** Checks Pyodide's header: the magic, and that it names no JavaScript object (only Pyodide's interned strings). */
function checkHeader(header: Uint8Array): void {
  if (header.byteLength < PYODIDE_SNAPSHOT_HEADER_BYTES || header.byteLength % 16 !== 0)
    throw new SessionRefused('its Pyodide header has the wrong size');
  const v = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (v.getUint32(0, true) !== PYODIDE_SNAPSHOT_MAGIC) throw new SessionRefused('its heap is not a Pyodide snapshot');
  if (v.getUint32(4, true) !== header.byteLength) throw new SessionRefused('its Pyodide header does not say where its heap starts');
  const n = v.getUint32(8, true);
  if (n > header.byteLength - PYODIDE_SNAPSHOT_HEADER_BYTES) throw new SessionRefused('its Pyodide header runs past its end');
  let refs: unknown;
  try {
    refs = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(header.slice(PYODIDE_SNAPSHOT_HEADER_BYTES, PYODIDE_SNAPSHOT_HEADER_BYTES + n)),
    );
  } catch {
    throw new SessionRefused('its Pyodide header is not JSON');
  }
  const r = refs as { hiwireKeys?: unknown; immortalKeys?: unknown };
  const keys = Object.keys(r ?? {});
  if (
    typeof r !== 'object' ||
    r === null ||
    keys.length !== 2 ||
    !Array.isArray(r.hiwireKeys) ||
    !r.hiwireKeys.every((k) => k === null) ||
    !Array.isArray(r.immortalKeys) ||
    !r.immortalKeys.every((k) => typeof k === 'string')
  ) {
    // A snapshot of ours never holds a JavaScript reference: one that does was made to reach JavaScript.
    throw new SessionRefused('its heap names JavaScript objects, which no ScriptBox snapshot does');
  }
}

/** Reads and checks a Python session payload; throws SessionRefused naming the problem. */
export function readPythonSession(payload: Uint8Array, maxHeapBytes: number): PythonSession {
  const { meta, blobs } = readCorePayload(payload, 'its Python state', FORMAT);
  if (blobs.length < 3) throw new SessionRefused('its Python state lacks its heap');
  const [header, bitmap, pages] = blobs as [Uint8Array, Uint8Array, Uint8Array];
  checkHeader(header);
  const heap = { size: meta.heapSize as number, bitmap, pages };
  const bad = heapProblem(heap, maxHeapBytes);
  if (bad) throw new SessionRefused(bad);
  const files = meta.files;
  if (!Array.isArray(files) || !files.every((f) => isEntry(f, blobs.length))) throw new SessionRefused('its file list is malformed');
  const streams = meta.streams;
  if (!Array.isArray(streams) || !streams.every(isStream)) throw new SessionRefused('its list of open files is malformed');
  return { header, heap, files, fileBlobs: blobs, streams, tainted: meta.tainted === true };
}

/**
 * After Pyodide restored the heap: the reference table emptied as it was when the snapshot
 * was taken (Pyodide's restore puts its own objects back, which a sealed engine never
 * holds), then the files and the open descriptors. Before any Python of the session runs.
 */
export function restorePythonSession(py: Pyodide, s: PythonSession, mounts: readonly string[]): void {
  const { FS, M } = parts(py);
  for (let i = 1; ; i++) {
    try {
      if (M.__hiwire_get(i) === null) continue;
    } catch {
      break;
    }
    M.__hiwire_set(i, null);
  }
  writeFiles(FS, s, mounts);
}

/** True when Python holds no JavaScript object (every entry of Pyodide's reference table is empty). */
function holdsNoJs(M: SessionModule): boolean {
  for (let i = 1; ; i++) {
    let v: unknown;
    try {
      v = M.__hiwire_get(i);
    } catch {
      return true;
    }
    if (v !== null) return false;
  }
}

/**
 * Puts a session back into the interpreter it was restored into (a pool's `reset:
 * 'template'`): the heap rewritten, the file system and open files made the session's.
 * Only for an interpreter booted from this same session (the host knows): the objects
 * Pyodide's JavaScript side points at (its modules, the runtime's entries) are then at
 * the same places in the session's heap. Returns false, having changed nothing, where it
 * cannot (Python holds a JavaScript object, the heap outgrew the limit): the host then
 * boots a new interpreter from the session.
 */
export function restoreInPlace(py: Pyodide, s: PythonSession, mounts: readonly string[], keep: readonly string[]): boolean {
  const { FS, M } = parts(py);
  if (!holdsNoJs(M)) return false;
  if (M.HEAPU8.length < s.heap.size) M.growMemory(s.heap.size);
  // Memory never shrinks: past the session's heap it is zeroed (its allocator ends where the session's did).
  decodeHeap(s.heap, M.HEAPU8, false);
  M.HEAPU8.fill(0, s.heap.size);
  // Every open file but stdio and the runtime's devices is closed; the session's are reopened.
  FS.streams.forEach((st, fd) => {
    if (st && fd >= FIRST_USER_FD && !keep.includes(st.path)) FS.close(st);
  });
  // Files and links go; directories the session does not have go too, when nothing it skips (the
  // standard library, a mount) is in them.
  const dirs = new Set(s.files.filter((f) => f.kind === 'dir').map((f) => f.path));
  const found: { path: string; dir: boolean }[] = [];
  walkCarried(FS, mounts, (path, mode) => found.push({ path, dir: FS.isDir(mode) && !FS.isLink(mode) }));
  for (const f of found.reverse()) {
    if (!f.dir) FS.unlink(f.path);
    else if (!dirs.has(f.path) && FS.readdir(f.path).length <= 2) FS.rmdir(f.path);
  }
  writeFiles(FS, s, mounts);
  return true;
}

function writeFiles(FS: SessionFS, s: PythonSession, mounts: readonly string[]): void {
  for (const f of s.files) {
    if (under(f.path, mounts) || STDLIB_ZIP.test(f.path)) continue;
    if (f.kind === 'dir') {
      FS.mkdirTree(f.path);
      FS.chmod(f.path, f.mode);
    } else if (f.kind === 'file') {
      FS.writeFile(f.path, s.fileBlobs[f.blob]!);
      FS.chmod(f.path, f.mode);
    } else if (!FS.analyzePath(f.path).exists) {
      FS.symlink(f.target, f.path);
    }
  }
  for (const st of s.streams) {
    if (FS.streams[st.fd]) continue;
    // O_CREAT, O_EXCL and O_TRUNC were for the first open: the file is back as it was.
    const opened = FS.open(st.path, st.flags & ~(0o100 | 0o200 | 0o1000));
    const moved = opened.fd === st.fd ? opened : FS.dupStream(opened, st.fd);
    if (moved !== opened) FS.close(opened);
    moved.position = st.position;
  }
}

/** Writes the session's heap into a fresh wasm memory (Pyodide's restore, boot.ts). */
export function sessionHeapWriter(s: PythonSession): { bytes: number; write(into: Uint8Array): void } {
  return { bytes: s.heap.size, write: (into) => decodeHeap(s.heap, into, true) };
}
