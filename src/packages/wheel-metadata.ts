/**
 * What a lock file says about a wheel, read from the wheel's own files: `METADATA` (core
 * metadata: Name, Version, Requires-Dist) and `top_level.txt` or `RECORD` for the modules
 * it provides. Pure text work; reading the zip is the caller's (src/cli/packages.ts).
 */
import { normalizeName } from './lock-file.js';

export interface WheelMetadata {
  name: string;
  version: string;
  /** Normalized names of what it requires (extras left out: they are optional). */
  depends: string[];
}

const MODULE = /^[A-Za-z_]\w*$/;

/** The header fields of a METADATA file (RFC 822 style; the body after the first blank line is the description). */
function headers(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if (/^[ \t]/.test(line) && out.length) out[out.length - 1]![1] += ` ${line.trim()}`;
    else {
      const i = line.indexOf(':');
      if (i > 0) out.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
    }
  }
  return out;
}

/** Name, version and dependencies from METADATA; throws naming the missing field. */
export function parseMetadata(text: string): WheelMetadata {
  const h = headers(text);
  const get = (k: string) => h.find(([key]) => key === k)?.[1];
  const name = get('name');
  const version = get('version');
  if (!name) throw new Error('its METADATA has no Name');
  if (!version) throw new Error('its METADATA has no Version');
  const depends = new Set<string>();
  for (const [k, v] of h) {
    if (k !== 'requires-dist') continue;
    const [req, marker = ''] = v.split(';', 2);
    // A requirement only for an extra is optional: not part of the set.
    if (/\bextra\s*==/.test(marker)) continue;
    const dep = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(req!)?.[1];
    if (dep) depends.add(normalizeName(dep));
  }
  return { name, version, depends: [...depends].sort() };
}

/** Top-level module names: from top_level.txt when the wheel has one, else from the paths RECORD lists. */
export function importsOf(topLevel: string | undefined, record: string | undefined): string[] {
  const names = new Set<string>();
  if (topLevel !== undefined) {
    for (const line of topLevel.split(/\r?\n/)) if (MODULE.test(line.trim())) names.add(line.trim());
  } else if (record !== undefined) {
    for (const line of record.split(/\r?\n/)) {
      const path = line.split(',')[0]!.trim();
      const parts = path.split('/');
      const first = parts[0]!;
      if (first.endsWith('.dist-info') || first.endsWith('.data') || first === '__pycache__') continue;
      const mod = parts.length === 1 ? (first.endsWith('.py') ? first.slice(0, -3) : '') : path.endsWith('.py') ? first : '';
      if (MODULE.test(mod)) names.add(mod);
    }
  }
  return [...names].sort();
}
