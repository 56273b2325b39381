/**
 * `host.fetch(url, options)` (capability `net.fetch`): HTTP from the host, only to hosts
 * the engine's `allowedHosts` lists. Every redirect hop is checked again, and the answer
 * comes back as plain data.
 */
import { describeValue } from '../describe-value.js';
import { InvalidInputError, PermissionDeniedError } from '../errors.js';
import { concatBytes, type ScriptValue } from '../values.js';

/** `example.com` (default ports), `example.com:8080`, `example.com:*`, `*.example.com[:port]`. */
const HOST_PATTERN = /^(\*\.)?[A-Za-z0-9.-]+(:(\d{1,5}|\*))?$|^\[[0-9A-Fa-f:.]+\](:(\d{1,5}|\*))?$/;
const MAX_REDIRECTS = 5;
/** Largest response body handed to a script. */
export const MAX_FETCH_BYTES = 10 * 1024 * 1024;
const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))/i;

export function checkAllowedHosts(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v))
    throw new InvalidInputError("allowedHosts must be an array of host[:port] patterns, e.g. ['api.example.com', '127.0.0.1:8080']");
  return v.map((p, i) => {
    if (typeof p !== 'string' || !HOST_PATTERN.test(p)) {
      throw new InvalidInputError(
        `allowedHosts[${i}]: ${describeValue(p)} is not a host[:port] pattern; use 'example.com', 'example.com:8080', 'example.com:*' or '*.example.com'`,
      );
    }
    return p.toLowerCase();
  });
}

function defaultPort(u: URL): string {
  return u.port || (u.protocol === 'https:' ? '443' : '80');
}

function splitPattern(p: string): { host: string; port?: string } {
  if (p.startsWith('[')) {
    const end = p.indexOf(']');
    const port = p.slice(end + 2);
    return port ? { host: p.slice(0, end + 1), port } : { host: p.slice(0, end + 1) };
  }
  const i = p.lastIndexOf(':');
  return i < 0 ? { host: p } : { host: p.slice(0, i), port: p.slice(i + 1) };
}

/** True when `url`'s host and port are covered by one of the patterns (no port: default ports only). */
export function hostAllowed(patterns: readonly string[], url: URL): boolean {
  const host = url.hostname.toLowerCase();
  const port = defaultPort(url);
  return patterns.some((p) => {
    const { host: h, port: pp } = splitPattern(p);
    const hostOk = h.startsWith('*.') ? host.endsWith(h.slice(1)) : host === h;
    const portOk = pp === '*' || (pp === undefined ? url.port === '' : pp === port);
    return hostOk && portOk;
  });
}

interface FetchOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | null;
}

function options(v: unknown): FetchOptions {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array)
    throw new InvalidInputError('host.fetch options must be a dict/table of method, headers, body');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!['method', 'headers', 'body'].includes(k))
      throw new InvalidInputError(`host.fetch option '${k}' is not known; use method, headers, body`);
  if (o.method !== undefined && typeof o.method !== 'string') throw new InvalidInputError('host.fetch method must be a string');
  if (o.body !== undefined && o.body !== null && typeof o.body !== 'string' && !(o.body instanceof Uint8Array))
    throw new InvalidInputError('host.fetch body must be text or bytes');
  if (o.headers !== undefined) {
    if (typeof o.headers !== 'object' || o.headers === null || Array.isArray(o.headers))
      throw new InvalidInputError('host.fetch headers must be a dict/table of strings');
    for (const [k, h] of Object.entries(o.headers))
      if (typeof h !== 'string') throw new InvalidInputError(`host.fetch header '${k}' must be a string`);
  }
  return o as FetchOptions;
}

/**
 * The built-in: checks every hop against `allowedHosts`, reads at most MAX_FETCH_BYTES.
 * `signal` (the call stopped, the engine disposed) aborts the request and closes its socket.
 */
export function makeFetch(allowedHosts: readonly string[]) {
  return async (rawUrl: unknown, rawOptions?: unknown, signal?: AbortSignal): Promise<ScriptValue> => {
    signal?.throwIfAborted();
    if (typeof rawUrl !== 'string') throw new InvalidInputError('host.fetch url must be a string');
    const opts = options(rawOptions);
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw new InvalidInputError(`host.fetch: ${JSON.stringify(rawUrl.slice(0, 200))} is not an absolute URL`);
    }
    let method = (opts.method ?? 'GET').toUpperCase();
    let body = opts.body ?? undefined;
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new PermissionDeniedError(`host.fetch only speaks http and https (got ${url.protocol})`);
      if (!hostAllowed(allowedHosts, url)) {
        throw new PermissionDeniedError(
          `host.fetch: ${url.host} is not in this engine's allowedHosts${allowedHosts.length ? ` (${allowedHosts.join(', ')})` : ' (none)'}; add it to allowedHosts to allow it`,
        );
      }
      const res = await fetch(url, {
        method,
        ...(opts.headers ? { headers: opts.headers } : {}),
        ...(body !== undefined ? { body: body as BodyInit } : {}),
        redirect: 'manual',
        ...(signal ? { signal } : {}),
      });
      if (res.type === 'opaqueredirect')
        throw new PermissionDeniedError('host.fetch: the server redirected, and this runtime cannot check where to; fetch the final URL');
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        if (hop >= MAX_REDIRECTS) throw new InvalidInputError(`host.fetch: more than ${MAX_REDIRECTS} redirects`);
        await res.body?.cancel();
        url = new URL(location, url);
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      const buf = await readLimited(res);
      const type = res.headers.get('content-type') ?? '';
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => (headers[k] = v));
      return {
        status: res.status,
        ok: res.ok,
        url: url.href,
        headers,
        body: TEXTUAL.test(type) ? new TextDecoder().decode(buf) : buf,
      };
    }
  };
}

async function readLimited(res: Response): Promise<Uint8Array> {
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_FETCH_BYTES) {
      await reader.cancel();
      throw new InvalidInputError(`host.fetch: the response is over ${MAX_FETCH_BYTES} bytes; fetch less (a range, a page)`);
    }
    parts.push(value);
  }
  return parts.length ? concatBytes(parts) : new Uint8Array(0);
}
