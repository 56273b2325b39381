/**
 * The `packages` and `packageSource` options, checked at the public entry (createEngine,
 * createPool, the CLI) with messages that name the problem and the fix. Nothing here
 * reaches the network or the disk: that happens once the engine starts (./package-set.ts).
 */
import { describeValue } from '../describe-value.js';
import { InvalidInputError } from '../errors.js';

/** A package source as options name it. */
export type PackageSourceSpec = { kind: 'default' } | { kind: 'url'; url: string } | { kind: 'dir'; dir: string };

/** What an engine installs at start: names as given, and where they come from. */
export interface PackageRequest {
  names: string[];
  source: PackageSourceSpec;
}

/** A distribution name as PEP 508 allows it (letters, digits, `-`, `_`, `.`; starts and ends alphanumeric). */
const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** Checks `packageSource` (a URL, a URL string or a directory path); absent: the default index. */
export function checkPackageSource(v: unknown): PackageSourceSpec {
  if (v === undefined) return { kind: 'default' };
  const fix =
    'packageSource must be a URL (https://host/index/ or a URL object) or the path of a directory of wheels with its pyodide-lock.json';
  let url: URL | undefined;
  if (v instanceof URL) url = v;
  else if (typeof v === 'string' && v.trim() !== '') {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return { kind: 'dir', dir: v };
    try {
      url = new URL(v);
    } catch {
      throw new InvalidInputError(`${fix} (got ${describeValue(v)}, which is not a valid URL)`);
    }
  } else throw new InvalidInputError(`${fix} (got ${describeValue(v)})`);
  if (url.protocol === 'file:') return { kind: 'dir', dir: decodeURIComponent(url.pathname) };
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidInputError(`${fix} (got a ${url.protocol} URL)`);
  return { kind: 'url', url: url.href.endsWith('/') ? url.href : `${url.href}/` };
}

/**
 * Checks `packages` / `packageSource` for an engine of `language` on `backend`; undefined
 * when no package set is asked for.
 */
export function checkPackages(packages: unknown, source: unknown, language: string, backend: string): PackageRequest | undefined {
  if (packages === undefined) {
    if (source !== undefined)
      throw new InvalidInputError("packageSource says where packages come from; pass packages: ['name', ...] with it, or leave it out");
    return undefined;
  }
  if (!Array.isArray(packages))
    throw new InvalidInputError(`packages must be an array of package names such as ['attrs', 'six'] (got ${describeValue(packages)})`);
  packages.forEach((p, i) => {
    if (typeof p !== 'string' || !NAME.test(p)) {
      throw new InvalidInputError(
        `packages[${i}] must be a package name such as 'attrs' (letters, digits, '-', '_', '.'; got ${describeValue(p)})`,
      );
    }
  });
  const spec = checkPackageSource(source);
  if (language !== 'python') {
    throw new InvalidInputError(`packages are Python packages; a ${language} engine has none to install, so leave packages out`);
  }
  if (backend === 'native') {
    throw new InvalidInputError(
      "packages are installed into the wasm sandbox's Pyodide; a native engine uses its own CPython's site-packages (install them there with pip), so leave packages out or use backend 'wasm'",
    );
  }
  return { names: [...(packages as string[])], source: spec };
}
