/** Reads a script for loadFile: http(s) URLs with fetch, paths and file: URLs from disk (Node). */
import { InvalidInputError, UnavailableError } from './errors.js';

export async function readScript(path: string | URL): Promise<{ code: string; name: string }> {
  const href = path instanceof URL ? path.href : path;
  if (typeof href !== 'string' || href.length === 0) {
    throw new InvalidInputError('loadFile takes a file path or a URL');
  }
  const name = href.split(/[\\/]/).pop() || href;
  if (/^https?:/.test(href) || (typeof process === 'undefined' && !href.startsWith('file:'))) {
    const res = await fetch(href);
    if (!res.ok) throw new InvalidInputError(`loadFile: ${href} answered ${res.status}; check the URL`);
    return { code: await res.text(), name };
  }
  const mod = (await import('./node/files.js')) as typeof import('./node/files.js');
  return { code: await mod.readText(path), name };
}

/** Reads a wheel for install(): bytes as given, http(s) URLs with fetch, paths and file: URLs from disk (Node). */
export async function readWheel(src: unknown): Promise<{ bytes: Uint8Array; name: string }> {
  if (src instanceof Uint8Array) return { bytes: src, name: 'package.whl' };
  const href = src instanceof URL ? src.href : src;
  if (typeof href !== 'string' || href.length === 0) {
    throw new InvalidInputError('install takes a wheel as a file path, a URL or a Uint8Array of its bytes');
  }
  const name = href.split(/[\\/]/).pop() || 'package.whl';
  if (/^https?:/.test(href)) {
    let res: Response;
    try {
      res = await fetch(href);
    } catch (e) {
      throw new UnavailableError(
        `install: ${href} could not be downloaded (${(e as Error).message}); the network may be unreachable: pass a local path or the wheel's bytes`,
      );
    }
    if (!res.ok) throw new InvalidInputError(`install: ${href} answered ${res.status}; check the URL`);
    return { bytes: new Uint8Array(await res.arrayBuffer()), name };
  }
  if (!href.startsWith('file:') && !/[\\/]/.test(href) && !href.endsWith('.whl')) {
    throw new UnavailableError(
      `install: '${href}' looks like a package name; installing by name needs a package index (PyPI or Pyodide's CDN), which ScriptBox does not reach: download the pure-Python wheel and pass its path or bytes`,
    );
  }
  if (typeof process === 'undefined')
    throw new InvalidInputError(`install: ${href} is not an http(s) URL; in a browser pass a URL or the bytes`);
  const mod = (await import('./node/files.js')) as typeof import('./node/files.js');
  return { bytes: await mod.readBytes(href), name };
}
