/**
 * A package set made ready for an engine (docs/packages.md): the source's lock file read,
 * the names resolved with their dependencies (./resolve.ts), every wheel checked against
 * this Pyodide's tags (./wheel-tags.ts), taken from the cache or fetched from the source,
 * and checked against the sha256 the lock pins before it is cached or used. The host does
 * all of it, before the engine boots; the core gets bytes (CoreInit.packages) and
 * installs them before any user code runs. One set is made once per process and source.
 */
import type { CorePackages } from '../core.js';
import { InvalidInputError } from '../errors.js';
import type { PackageRequest } from './check.js';
import { MemoryPackageCache, type PackageCache } from './cache.js';
import { LOCK_FILE, parseLock, type LockPackage } from './lock-file.js';
import { resolvePackages } from './resolve.js';
import { openSource, type PackageSource } from './source.js';
import { checkWheelFits } from './wheel-tags.js';

/** Bumped when how a set is installed changes in a way its contents do not show (it is in the snapshot key). */
const INSTALL_FORMAT = 1;

export interface PackageSet {
  /** What the core installs, in order, and the modules it imports before a snapshot. */
  core: CorePackages;
  /** The set's part of the snapshot key: what is installed, by content (not by source). */
  keyPart: string;
  /** The lock entries, in install order. */
  packages: LockPackage[];
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function wheelOf(pkg: LockPackage, source: PackageSource, cache: PackageCache): Promise<Uint8Array> {
  const cached = await cache.get(pkg.sha256);
  if (cached) return cached;
  const bytes = await source.readFile(pkg.file_name, pkg.name);
  const got = await sha256Hex(bytes);
  if (got !== pkg.sha256) {
    throw new InvalidInputError(
      `package '${pkg.name}': ${pkg.file_name} from ${source.where} has sha256 ${got}, but its lock file pins ${pkg.sha256}; the file changed after the lock was written (relock the folder with 'scriptbox packages lock DIR' if the new file is the one you want) or it was tampered with`,
    );
  }
  // A cache that cannot write costs later processes a fetch, nothing more.
  await cache
    .put(pkg.sha256, bytes)
    .catch((e: unknown) => console.warn(`scriptbox: cannot cache ${pkg.file_name} (${(e as Error)?.message ?? e})`));
  return bytes;
}

let defaultCache: Promise<PackageCache> | undefined;

/** Node: the disk cache; elsewhere: this page's memory. */
function cacheHere(): Promise<PackageCache> {
  defaultCache ??= (async () => {
    if (typeof process !== 'undefined' && process.versions?.node && typeof window === 'undefined') {
      const { DiskPackageCache } = (await import('../node/package-files.js')) as typeof import('../node/package-files.js');
      return new DiskPackageCache();
    }
    return new MemoryPackageCache();
  })();
  return defaultCache;
}

/** Resolves, fetches and checks a package set (no memo: see loadPackageSet). */
export async function makePackageSet(request: PackageRequest, cache?: PackageCache): Promise<PackageSet> {
  const source = await openSource(request.source);
  const lock = parseLock(await source.readLock(), `${source.where}${source.where.endsWith('/') ? '' : '/'}${LOCK_FILE}`);
  const packages = resolvePackages(lock, request.names, source.where);
  for (const pkg of packages) checkWheelFits(pkg, source.where);
  const store = cache ?? (await cacheHere());
  const wheels = await Promise.all(packages.map((p) => wheelOf(p, source, store)));
  const imports = [...new Set(packages.flatMap((p) => p.imports))];
  return {
    core: { wheels: packages.map((p, i) => ({ name: p.name, fileName: p.file_name, bytes: wheels[i]! })), imports },
    keyPart: JSON.stringify([`packages/${INSTALL_FORMAT}`, packages.map((p) => [p.name, p.version, p.sha256]), imports]),
    packages,
  };
}

const sets = new Map<string, Promise<PackageSet>>();

/** The package set for `request`, made once per process (a failed one is tried again next time). */
export function loadPackageSet(request: PackageRequest): Promise<PackageSet> {
  const id = JSON.stringify([request.source, [...request.names].sort()]);
  let set = sets.get(id);
  if (!set) {
    set = makePackageSet(request);
    sets.set(id, set);
    // Only forgotten here; the caller gets the rejection itself.
    void set.then(undefined, () => sets.delete(id));
  }
  return set;
}

/** Forgets the package sets this process made (tests; the disk cache stays). */
export function forgetPackageSets(): void {
  sets.clear();
}
