/**
 * A package set resolved against a lock file: the named packages and, transitively, what
 * they depend on, in install order (every package after its dependencies). The order is
 * deterministic: names sorted, dependencies visited in sorted order, so one set always
 * installs (and snapshots) the same way. A dependency cycle installs each member once.
 */
import { editDistance } from '../cli/closest.js';
import { InvalidInputError } from '../errors.js';
import { normalizeName, type LockPackage, type PyodideLock } from './lock-file.js';

/** Names of the lock near `name`, nearest first, for "did you mean" (at most three). */
function nearNames(name: string, known: string[]): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  return known
    .map((k) => [k, k.startsWith(name) ? 0 : editDistance(name, k)] as const)
    .filter(([, d]) => d <= limit)
    .sort((a, b) => a[1] - b[1])
    .slice(0, 3)
    .map(([k]) => k);
}

/** The packages to install for `names`, dependencies first; `where` names the source in messages. */
export function resolvePackages(lock: PyodideLock, names: readonly string[], where: string): LockPackage[] {
  const known = Object.keys(lock.packages).sort();
  for (const name of names) {
    if (lock.packages[normalizeName(name)]) continue;
    const near = nearNames(normalizeName(name), known);
    throw new InvalidInputError(
      `package '${name}' is not in ${where}${near.length ? `; did you mean ${near.map((n) => `'${n}'`).join(' or ')}?` : ''} Add its wheel to the source (and relock it with 'scriptbox packages lock DIR') or fix the name in packages`,
    );
  }
  const order: LockPackage[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (key: string, neededBy: string | undefined): void => {
    if (state.has(key)) return; // done, or a cycle back to a package being visited: installed once
    const pkg = lock.packages[key];
    if (!pkg) {
      throw new InvalidInputError(
        `package '${neededBy}' depends on '${key}', which is missing from ${where}; add the wheel of '${key}' to the source and relock it ('scriptbox packages lock DIR')`,
      );
    }
    state.set(key, 'visiting');
    for (const dep of [...pkg.depends].sort()) visit(dep, pkg.name);
    state.set(key, 'done');
    order.push(pkg);
  };
  for (const name of [...new Set(names.map(normalizeName))].sort()) visit(name, undefined);
  return order;
}
