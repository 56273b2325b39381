/** Reads a script for loadFile: http(s) URLs with fetch, paths and file: URLs from disk (Node). */
import { InvalidInputError } from './errors.js';

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
