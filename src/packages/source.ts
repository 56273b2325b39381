/**
 * Where a package set comes from: the package source the host configured (never the
 * script). Three kinds, one interface: the Pyodide package index of the installed
 * `pyodide` version on its CDN (the default), any URL laid out like it
 * (`<url>/pyodide-lock.json`, wheels beside it), or a local directory of wheels with its
 * lock file (offline, Node). Only file names from the source's own lock file are read, and
 * those are plain names (lock-file.ts), so nothing can reach past the source.
 */
import { version as pyodideVersion } from 'pyodide';
import { UnavailableError } from '../errors.js';
import type { PackageSourceSpec } from './check.js';
import { LOCK_FILE } from './lock-file.js';

/** The Pyodide package index for the installed `pyodide` version (reached only where the machine is online). */
export function defaultIndexUrl(version: string = pyodideVersion): string {
  return `https://cdn.jsdelivr.net/pyodide/v${version}/full/`;
}

export interface PackageSource {
  /** The URL or directory, for messages. */
  readonly where: string;
  readonly spec: PackageSourceSpec;
  /** The lock file's text. */
  readLock(): Promise<string>;
  /** One file named by the lock; `pkg` names the package in messages. */
  readFile(fileName: string, pkg: string): Promise<Uint8Array>;
}

/** What to do when a source cannot be reached: the fix the message ends with. */
export const OFFLINE_FIX =
  "pass packageSource: DIR (a folder of wheels with its pyodide-lock.json; 'scriptbox packages lock DIR' writes one) or the URL of a package index this machine can reach";

function httpSource(spec: PackageSourceSpec & { url: string }, isDefault: boolean): PackageSource {
  const which = isDefault ? `the Pyodide package index ${spec.url} (the default packageSource)` : `the package source ${spec.url}`;
  const get = async (name: string, what: string): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(new URL(name, spec.url));
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new UnavailableError(
        `${what} could not be fetched: ${which} cannot be reached (${cause?.code ?? cause?.message ?? (e as Error).message}); ${OFFLINE_FIX}`,
        { cause: e },
      );
    }
    if (!res.ok) {
      throw new UnavailableError(
        `${what} could not be fetched: ${new URL(name, spec.url).href} answered HTTP ${res.status}; check packageSource (${which}) or ${OFFLINE_FIX}`,
      );
    }
    return res;
  };
  return {
    where: spec.url,
    spec,
    readLock: async () => (await get(LOCK_FILE, LOCK_FILE)).text(),
    readFile: async (fileName, pkg) => new Uint8Array(await (await get(fileName, `package '${pkg}' (${fileName})`)).arrayBuffer()),
  };
}

/** The source for `spec`: a directory source needs Node (its files are read from disk). */
export async function openSource(spec: PackageSourceSpec): Promise<PackageSource> {
  if (spec.kind === 'default') return httpSource({ kind: 'url', url: defaultIndexUrl() }, true);
  if (spec.kind === 'url') return httpSource(spec, false);
  if (typeof process === 'undefined' || !process.versions?.node) {
    throw new UnavailableError(`packageSource ${spec.dir} is a directory, which needs Node; in a browser pass the URL of a package index`);
  }
  const { directorySource } = (await import('../node/package-files.js')) as typeof import('../node/package-files.js');
  return directorySource(spec, OFFLINE_FIX);
}
