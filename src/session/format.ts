/**
 * The bytes of a session snapshot (docs/session-snapshots.md): a versioned container
 * around a core's payload. Read from untrusted bytes: every field is checked before it is
 * used, the payload's SHA-256 must match, and a signed snapshot's HMAC must verify against
 * the key the restoring engine was given. Nothing platform-specific: WebCrypto does the
 * hashing in Node and browsers alike.
 *
 *   0   8   magic "SBSESS\r\n" (the line ending catches text-mode mangling)
 *   8   4   u32 LE format version (1)
 *   12  4   u32 LE header length h (at most 64 KiB)
 *   16  h   header, JSON (SessionHeader)
 *   ..  n   the core's payload (header.payloadBytes)
 *   ..  32  HMAC-SHA256 over everything before it, when header.signature is 'hmac-sha256'
 */
import { InvalidInputError, UnavailableError } from '../errors.js';

const MAGIC = new Uint8Array([0x53, 0x42, 0x53, 0x45, 0x53, 0x53, 0x0d, 0x0a]);
/** The container's format version: bumped when the layout or the header's meaning changes. */
export const SESSION_FORMAT = 1;
const PREFIX = 16;
const MAX_HEADER = 64 * 1024;
const MAC_BYTES = 32;
/** The largest snapshot read at all (a whole heap of the largest engine, plus its files). */
export const MAX_SESSION_BYTES = 2 ** 31 - 1;

/** What the header says about the snapshot (all checked when read). */
export interface SessionHeader {
  language: 'python' | 'lua';
  backend: 'wasm';
  /** The runtime it was taken with (src/session/runtime.ts): only the same one restores it. */
  runtime: string;
  /** The package set's fingerprint (Python `packages`), or null without one. */
  packages: string | null;
  /** When it was taken (ISO 8601). */
  createdAt: string;
  payloadBytes: number;
  /** Hex SHA-256 of the payload. */
  sha256: string;
  signature: 'hmac-sha256' | null;
}

/** A snapshot key as WebCrypto uses it. */
export type SessionKey = CryptoKey;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) {
    throw new UnavailableError(
      'session snapshots need WebCrypto (crypto.subtle) to hash their bytes, which this context lacks (a page served over plain http off localhost); serve it over https',
    );
  }
  return s;
}

function hex(b: ArrayBuffer): string {
  return Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
}

/** WebCrypto refuses views of shared memory. */
function plain(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : (b.slice() as Uint8Array<ArrayBuffer>);
}

export async function sha256Hex(b: Uint8Array): Promise<string> {
  return hex(await subtle().digest('SHA-256', plain(b)));
}

/** The HMAC key of `snapshotKey` (checked by the options: at least 32 bytes or characters). */
export async function importSessionKey(secret: string | Uint8Array): Promise<SessionKey> {
  const raw = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret.slice();
  return subtle().importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

/** Packs a payload into a snapshot's bytes, signed when `key` is given. */
export async function packSession(
  meta: Omit<SessionHeader, 'payloadBytes' | 'sha256' | 'signature' | 'createdAt'>,
  payload: Uint8Array,
  key?: SessionKey,
): Promise<{ bytes: Uint8Array; read: ReadSession }> {
  const header: SessionHeader = {
    ...meta,
    createdAt: new Date().toISOString(),
    payloadBytes: payload.byteLength,
    sha256: await sha256Hex(payload),
    signature: key ? 'hmac-sha256' : null,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const total = PREFIX + json.byteLength + payload.byteLength + (key ? MAC_BYTES : 0);
  if (total > MAX_SESSION_BYTES)
    throw new InvalidInputError(`the session snapshot would be ${total} bytes, over the ${MAX_SESSION_BYTES}-byte limit`);
  const bytes = new Uint8Array(total);
  bytes.set(MAGIC, 0);
  const v = new DataView(bytes.buffer);
  v.setUint32(8, SESSION_FORMAT, true);
  v.setUint32(12, json.byteLength, true);
  bytes.set(json, PREFIX);
  bytes.set(payload, PREFIX + json.byteLength);
  const read: ReadSession = { header, payload: bytes.subarray(PREFIX + json.byteLength, PREFIX + json.byteLength + payload.byteLength) };
  if (key) {
    const signed = bytes.subarray(0, total - MAC_BYTES);
    bytes.set(new Uint8Array(await subtle().sign('HMAC', key, signed)), total - MAC_BYTES);
    read.mac = { signed, signature: bytes.subarray(total - MAC_BYTES) };
  }
  return { bytes, read };
}

function bad(problem: string): InvalidInputError {
  return new InvalidInputError(`not a usable session snapshot: ${problem}`);
}

const HEX64 = /^[0-9a-f]{64}$/;

function checkHeader(x: unknown): SessionHeader {
  const h = x as Record<string, unknown>;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw bad('its header is not an object');
  if (h.language !== 'python' && h.language !== 'lua')
    throw bad(`its header names no language ScriptBox runs (${String(h.language).slice(0, 40)})`);
  if (h.backend !== 'wasm')
    throw bad(`its header names backend ${String(h.backend).slice(0, 40)}; only wasm engines take session snapshots`);
  if (typeof h.runtime !== 'string' || h.runtime.length > 200) throw bad('its header names no runtime');
  if (h.packages !== null && (typeof h.packages !== 'string' || !HEX64.test(h.packages))) throw bad('its package set is malformed');
  if (typeof h.createdAt !== 'string' || h.createdAt.length > 40) throw bad('its creation time is malformed');
  if (!Number.isSafeInteger(h.payloadBytes) || (h.payloadBytes as number) < 0) throw bad('its payload size is malformed');
  if (typeof h.sha256 !== 'string' || !HEX64.test(h.sha256)) throw bad('its checksum is malformed');
  if (h.signature !== null && h.signature !== 'hmac-sha256')
    throw bad(`it is signed with ${String(h.signature).slice(0, 40)}, which ScriptBox does not know`);
  return {
    language: h.language,
    backend: 'wasm',
    runtime: h.runtime,
    packages: h.packages as string | null,
    createdAt: h.createdAt,
    payloadBytes: h.payloadBytes as number,
    sha256: h.sha256,
    signature: h.signature,
  };
}

/** A snapshot's parts, read from its bytes and checked (structure and checksum; the signature by verifySession). */
export interface ReadSession {
  header: SessionHeader;
  payload: Uint8Array;
  /** The signed part and the signature, when signed. */
  mac?: { signed: Uint8Array; signature: Uint8Array };
}

/** How many leading bytes a snapshot's header starts with (then `need` says how many hold it whole). */
export const SESSION_PREFIX_BYTES = PREFIX;

/**
 * The header of a snapshot from its first bytes, checked: for listings, without reading
 * the payload. Answers `need` (how many leading bytes hold the header) when `bytes` is too
 * short for it.
 */
export function readSessionHeader(bytes: Uint8Array): { header: SessionHeader; headerEnd: number } | { need: number } {
  if (bytes.byteLength < PREFIX) return { need: PREFIX };
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw bad('it does not start like one (these bytes are something else)');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = v.getUint32(8, true);
  if (format !== SESSION_FORMAT) {
    throw bad(
      `it has format ${format}, and this version of ScriptBox reads format ${SESSION_FORMAT}; take the snapshot again with this version`,
    );
  }
  const h = v.getUint32(12, true);
  if (h > MAX_HEADER) throw bad('its header is larger than any snapshot header');
  if (PREFIX + h > bytes.byteLength) return { need: PREFIX + h };
  let parsed: unknown;
  try {
    // A copy: browsers' TextDecoder refuses views of shared memory.
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.slice(PREFIX, PREFIX + h)));
  } catch {
    throw bad('its header is damaged (not JSON)');
  }
  return { header: checkHeader(parsed), headerEnd: PREFIX + h };
}

/** Reads a snapshot's bytes; throws InvalidInputError naming what is wrong (damaged, truncated, not one). */
export async function readSession(bytes: Uint8Array): Promise<ReadSession> {
  const got = readSessionHeader(bytes);
  if ('need' in got) {
    throw bad(
      bytes.byteLength < PREFIX
        ? 'it does not start like one (these bytes are something else)'
        : 'its header runs past its end (truncated?)',
    );
  }
  const { header, headerEnd } = got;
  const h = headerEnd - PREFIX;
  const mac = header.signature ? MAC_BYTES : 0;
  const expected = PREFIX + h + header.payloadBytes + mac;
  if (bytes.byteLength !== expected) {
    throw bad(`it is ${bytes.byteLength} bytes where its header says ${expected} (truncated or padded)`);
  }
  const payload = bytes.subarray(PREFIX + h, PREFIX + h + header.payloadBytes);
  if ((await sha256Hex(payload)) !== header.sha256) throw bad('it is damaged (its checksum does not match its bytes)');
  const read: ReadSession = { header, payload };
  if (mac) read.mac = { signed: bytes.subarray(0, expected - MAC_BYTES), signature: bytes.subarray(expected - MAC_BYTES) };
  return read;
}

/**
 * Checks the snapshot's signature against the restoring engine's key. With a key, an
 * unsigned or otherwise signed snapshot is refused; without one, any snapshot passes (its
 * bytes are then as trusted as code the engine runs: docs/session-snapshots.md).
 */
export async function verifySession(read: ReadSession, key: SessionKey | undefined): Promise<void> {
  if (!key) return;
  if (!read.mac)
    throw new InvalidInputError(
      'the session snapshot is not signed, and this engine has a snapshotKey: it restores only snapshots signed with that key',
    );
  const ok = await subtle().verify('HMAC', key, plain(read.mac.signature), plain(read.mac.signed));
  if (!ok) {
    throw new InvalidInputError(
      "the session snapshot's signature does not match this engine's snapshotKey: it was signed with another key, or its bytes were changed after it was signed",
    );
  }
}
