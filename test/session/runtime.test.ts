/**
 * The runtime identity of session snapshots (src/session/runtime.ts): a heap restores only
 * into the build that made it, so the identity follows the installed interpreter builds.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { WASMOON_VERSION } from '../../wasm/lua/version.js';
import { sessionRuntime } from '../../src/session/runtime.js';

const require = createRequire(import.meta.url);
const installed = (pkg: string) =>
  (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;

describe('session runtime identity', () => {
  it('names the installed wasmoon (update wasm/lua/version.ts with wasmoon) and Pyodide builds', async () => {
    expect(WASMOON_VERSION).toBe(installed('wasmoon'));
    expect(await sessionRuntime('lua')).toMatch(new RegExp(`^wasmoon/${WASMOON_VERSION.replace(/\./g, '\\.')}\\+[0-9a-f]{16}$`));
    expect(await sessionRuntime('python')).toMatch(new RegExp(`^pyodide/${installed('pyodide').replace(/\./g, '\\.')}\\+[0-9a-f]{16}$`));
    // Computed once per process and language.
    expect(await sessionRuntime('lua')).toBe(await sessionRuntime('lua'));
  });
});
