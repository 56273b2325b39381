/**
 * The layout of a core's part of a session snapshot (docs/session-snapshots.md): a JSON
 * description, then binary blobs it refers to by index. Read from untrusted bytes: every
 * length is checked against the buffer before anything is sliced, and JSON.parse builds
 * plain data only. Loaded by the sandbox's cores and the host: no platform imports.
 *
 *   u32 LE  JSON length n
 *   n       JSON, UTF-8: { ..., "blobs": [length, ...] }
 *   ...     the blobs, back to back, in that order
 */

import { SessionRefused } from './refused.js';

export interface Payload {
  meta: Record<string, unknown>;
  blobs: Uint8Array[];
}

const encoder = new TextEncoder();

/** Packs `meta` (plain JSON data; "blobs" is reserved) and the blobs into one buffer. */
export function packPayload(meta: Record<string, unknown>, blobs: Uint8Array[]): Uint8Array {
  const json = encoder.encode(JSON.stringify({ ...meta, blobs: blobs.map((b) => b.byteLength) }));
  const total = 4 + json.byteLength + blobs.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 4);
  let at = 4 + json.byteLength;
  for (const b of blobs) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

/** A payload that does not have the layout above. */
export class PayloadError extends Error {}

/** Reads a payload; throws PayloadError naming what is wrong. Blobs are views of `bytes`. */
export function unpackPayload(bytes: Uint8Array): Payload {
  if (bytes.byteLength < 4) throw new PayloadError('it is too short to hold a description');
  const n = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (n > bytes.byteLength - 4 || n > 16 * 1024 * 1024) throw new PayloadError('its description runs past its end');
  let meta: unknown;
  try {
    // A copy: browsers' TextDecoder refuses views of shared memory (a pool's payload is shared).
    meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.slice(4, 4 + n)));
  } catch {
    throw new PayloadError('its description is not JSON');
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new PayloadError('its description is not an object');
  const lengths = (meta as { blobs?: unknown }).blobs;
  if (!Array.isArray(lengths) || !lengths.every((l) => Number.isSafeInteger(l) && (l as number) >= 0))
    throw new PayloadError('its description does not list its blobs');
  const blobs: Uint8Array[] = [];
  let at = 4 + n;
  for (const l of lengths as number[]) {
    if (l > bytes.byteLength - at) throw new PayloadError('a blob runs past its end');
    blobs.push(bytes.subarray(at, at + l));
    at += l;
  }
  if (at !== bytes.byteLength) throw new PayloadError(`${bytes.byteLength - at} bytes follow its last blob`);
  return { meta: meta as Record<string, unknown>, blobs };
}

/**
 * A core's payload read for restoring: the layout and the core's own `format` checked,
 * what is wrong thrown as SessionRefused, `what` naming the state ("its Lua state").
 */
export function readCorePayload(bytes: Uint8Array, what: string, format: number): Payload {
  let p: Payload;
  try {
    p = unpackPayload(bytes);
  } catch (e) {
    if (e instanceof PayloadError) throw new SessionRefused(`${what} is malformed: ${e.message}`);
    throw e;
  }
  if (p.meta.format !== format) throw new SessionRefused(`${what} has format ${String(p.meta.format)}, and this engine reads ${format}`);
  return p;
}
