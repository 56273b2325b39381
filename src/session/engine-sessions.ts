/**
 * What an engine needs to take and restore session snapshots (docs/session-snapshots.md):
 * its runtime identity and package set (a snapshot restores only into the same), and its
 * snapshotKey. Checks a snapshot against the engine before any core sees it, and packs a
 * core's payload into a SessionSnapshot.
 */
import { InvalidInputError } from '../errors.js';
import type { Language } from '../core.js';
import { importSessionKey, packSession, sha256Hex, verifySession, type SessionKey } from './format.js';
import { sessionRuntime } from './runtime.js';
import { SessionSnapshot, bootPayload, sessionParts, toSessionSnapshot } from './snapshot.js';

export class EngineSessions {
  /** Snapshots already checked for this engine (a pool's template is restored again and again). */
  private readonly checked = new WeakSet<SessionSnapshot>();

  private constructor(
    private readonly language: Language,
    private readonly runtime: string,
    /** The package set's fingerprint, or null without one. */
    private readonly packages: string | null,
    private readonly key: SessionKey | undefined,
  ) {}

  /** For a wasm engine of `language`, with the key part of its package set (src/packages/) if it has one. */
  static async create(
    language: Language,
    packagesKeyPart: string | undefined,
    secret: string | Uint8Array | undefined,
  ): Promise<EngineSessions> {
    const [runtime, packages, key] = await Promise.all([
      sessionRuntime(language),
      packagesKeyPart === undefined ? null : sha256Hex(new TextEncoder().encode(packagesKeyPart)),
      secret === undefined ? undefined : importSessionKey(secret),
    ]);
    return new EngineSessions(language, runtime, packages, key);
  }

  /** A snapshot of a core's payload, signed when the engine has a key. */
  async pack(payload: Uint8Array): Promise<SessionSnapshot> {
    const { bytes, read } = await packSession(
      { language: this.language, backend: 'wasm', runtime: this.runtime, packages: this.packages },
      payload,
      this.key,
    );
    return SessionSnapshot.fromPacked(bytes, read);
  }

  /**
   * `v` (a SessionSnapshot or its bytes) checked for this engine: language, runtime,
   * package set and signature. Returns the payload its core restores. Throws InvalidInputError.
   */
  async check(v: unknown, where: string): Promise<Uint8Array> {
    const snap = await toSessionSnapshot(v, where);
    const read = sessionParts(snap);
    if (this.checked.has(snap)) return bootPayload(snap);
    const h = read.header;
    if (h.language !== this.language) {
      throw new InvalidInputError(
        `${where}: the snapshot is of a ${h.language} engine; restore it into a ${h.language} engine, not a ${this.language} one`,
      );
    }
    if (h.runtime !== this.runtime) {
      throw new InvalidInputError(
        `${where}: the snapshot was taken with runtime ${h.runtime}, and this engine runs ${this.runtime}; a snapshot restores only into the ScriptBox and interpreter version that took it`,
      );
    }
    if (h.packages !== this.packages) {
      const what = (p: string | null) => (p === null ? 'no package set' : `package set ${p.slice(0, 12)}`);
      throw new InvalidInputError(
        `${where}: the snapshot was taken with ${what(h.packages)}, and this engine has ${what(this.packages)}; give the engine the same packages option as the one that took it`,
      );
    }
    await verifySession(read, this.key);
    this.checked.add(snap);
    return bootPayload(snap);
  }
}
