// The tree's shape, checked: guest code lives in .py / .lua files (not in TypeScript
// strings), and the sandboxed backends (wasm/) and native backends (native-bridge/) share
// their language layer (src/lang/) without importing each other.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './guest-files.js';

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.generated.ts') ? [join(dir, e.name)] : [],
  );
}

const SOURCE_DIRS = ['src', 'wasm', 'native-bridge', 'web'];

describe('tree layout', () => {
  it('keeps no guest-language source in TypeScript template strings', () => {
    const offenders = SOURCE_DIRS.flatMap(tsFiles).filter((f) => readFileSync(join(ROOT, f), 'utf8').includes('String.raw'));
    expect(offenders).toEqual([]);
  });

  it.each([
    ['wasm', 'native-bridge'],
    ['native-bridge', 'wasm'],
  ])('has no import from %s/ into %s/', (from, to) => {
    const pattern = new RegExp(`(from|import\\()\\s*['"][./]*${to}/`);
    const offenders = tsFiles(from).filter((f) => pattern.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
