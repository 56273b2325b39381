/**
 * SessionSnapshot: a live engine's state as bytes plus what they are (docs/session-snapshots.md).
 * Immutable once made: it keeps its own copy of the bytes, checked when it was made, so an
 * engine or pool can restore it again and again without checking it again.
 */
import { describeValue } from '../describe-value.js';
import { InvalidInputError } from '../errors.js';
import { readSession, type ReadSession, type SessionHeader } from './format.js';

/** What a snapshot is, without its bytes (`snap.info`, and what stores list). */
export interface SessionInfo {
  language: 'python' | 'lua';
  backend: 'wasm';
  /** The runtime it was taken with: only an engine of the same runtime restores it. */
  runtime: string;
  /** The package set's fingerprint (Python `packages`), or null. */
  packages: string | null;
  /** Hex SHA-256 of its payload: equal hashes, equal states. */
  hash: string;
  /** Its size in bytes. */
  size: number;
  /** When it was taken (ISO 8601). */
  createdAt: string;
  /** Signed with a `snapshotKey`. */
  signed: boolean;
}

/** What a header says, as `info` (a store lists snapshots by it without reading their payloads). */
export function sessionInfo(h: SessionHeader, size: number): SessionInfo {
  return Object.freeze({
    language: h.language,
    backend: h.backend,
    runtime: h.runtime,
    packages: h.packages,
    hash: h.sha256,
    size,
    createdAt: h.createdAt,
    signed: h.signature !== null,
  });
}

const parts = new WeakMap<SessionSnapshot, ReadSession>();

/** An engine's state at one moment, as `engine.snapshot()` returns it: restore it with `createEngine(lang, { restore })`, `engine.restore()` or a pool `template`. */
export class SessionSnapshot {
  /** What it is (language, runtime, package set, hash, size...). */
  readonly info: SessionInfo;
  readonly #bytes: Uint8Array;

  private constructor(bytes: Uint8Array, read: ReadSession) {
    this.#bytes = bytes;
    this.info = sessionInfo(read.header, bytes.byteLength);
    parts.set(this, read);
    Object.freeze(this);
  }

  get language(): 'python' | 'lua' {
    return this.info.language;
  }

  /** Hex SHA-256 of its payload. */
  get hash(): string {
    return this.info.hash;
  }

  get size(): number {
    return this.info.size;
  }

  /** A copy of its bytes, to store or send; `SessionSnapshot.from(bytes)` reads them back. */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /**
   * Reads a snapshot from bytes (a file, a store, the network): untrusted input, checked
   * here (format, sizes, checksum) and again by the engine that restores it (runtime,
   * package set, signature). Throws InvalidInputError naming what is wrong.
   */
  static async from(bytes: unknown): Promise<SessionSnapshot> {
    let view: Uint8Array;
    if (bytes instanceof Uint8Array) view = bytes;
    else if (bytes instanceof ArrayBuffer) view = new Uint8Array(bytes);
    else throw new InvalidInputError(`SessionSnapshot.from takes the bytes of a snapshot, a Uint8Array (got ${describeValue(bytes)})`);
    // Its own copy: the caller's buffer may change after this check.
    const own = view.slice();
    return new SessionSnapshot(own, await readSession(own));
  }

  /** Internal: made by the engine from bytes it just packed (already its own). */
  static fromPacked(bytes: Uint8Array, read: ReadSession): SessionSnapshot {
    return new SessionSnapshot(bytes, read);
  }
}

/** Internal: the checked parts of a snapshot (header, payload, signature), for the engine that restores it. */
export function sessionParts(snap: SessionSnapshot): ReadSession {
  return parts.get(snap)!;
}

const shared = new WeakMap<SessionSnapshot, Uint8Array>();

/**
 * Internal: the payload cores boot from, one copy per snapshot in shared memory where
 * there is some: every worker engine of a pool then boots from (and keeps, for `reset:
 * 'template'`) the same memory instead of a copy each.
 */
export function bootPayload(snap: SessionSnapshot): Uint8Array {
  let p = shared.get(snap);
  if (!p) {
    const payload = sessionParts(snap).payload;
    const g = globalThis as { crossOriginIsolated?: boolean };
    if (typeof SharedArrayBuffer === 'undefined' || g.crossOriginIsolated === false) p = payload;
    else {
      p = new Uint8Array(new SharedArrayBuffer(payload.byteLength));
      p.set(payload);
    }
    shared.set(snap, p);
  }
  return p;
}

/** A `restore` / `template` value: a SessionSnapshot, or its bytes (read with SessionSnapshot.from). */
export async function toSessionSnapshot(v: unknown, where: string): Promise<SessionSnapshot> {
  if (v instanceof SessionSnapshot) return v;
  if (v instanceof Uint8Array || v instanceof ArrayBuffer) return SessionSnapshot.from(v);
  throw new InvalidInputError(`${where} takes a SessionSnapshot (from engine.snapshot()) or its bytes (got ${describeValue(v)})`);
}
