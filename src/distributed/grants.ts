/**
 * What a job may ask of a worker: a subset of the capabilities the worker grants, never
 * more (issue 24: the worker's configuration decides, the job only narrows it).
 */
import { granted } from '../capabilities/registry.js';
import { PermissionDeniedError } from '../errors.js';

/** True when every capability `pattern` names is granted by `grants` (patterns: `log`, `kv.*`, `*`). */
export function covered(grants: readonly string[], pattern: string): boolean {
  if (pattern === '*') return grants.includes('*');
  if (!pattern.endsWith('.*')) return granted(grants, pattern);
  const family = pattern.slice(0, -1); // 'kv.'
  return grants.some((g) => g === '*' || g === pattern || (g.endsWith('.*') && family.startsWith(g.slice(0, -1))));
}

/**
 * The grants a job runs with: what it asked for (default: all the worker grants), each
 * checked against the worker's. PermissionDeniedError names what is not granted.
 */
export function jobGrants(workerGrants: readonly string[], asked: readonly string[] | undefined, worker: string): string[] {
  if (asked === undefined) return [...workerGrants];
  const refused = asked.filter((p) => !covered(workerGrants, p));
  if (refused.length > 0) {
    throw new PermissionDeniedError(
      `the job asks for ${refused.map((p) => `'${p}'`).join(', ')}, which worker ${worker} does not grant (it grants ${
        workerGrants.length ? workerGrants.map((p) => `'${p}'`).join(', ') : 'nothing'
      }); ask for a subset, or grant it in the worker's configuration`,
    );
  }
  return [...asked];
}
