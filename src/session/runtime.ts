/**
 * Which runtime a session snapshot needs (docs/session-snapshots.md): a heap is only
 * meaningful to the same interpreter build running the same ScriptBox runtime code, so
 * the identity is the build's version plus a hash of everything that shapes the heap.
 * Two engines restore each other's snapshots exactly when these strings are equal.
 */
import type { Language } from '../core.js';
import { sha256Hex } from './format.js';

const ids = new Map<Language, Promise<string>>();

async function compute(language: Language): Promise<string> {
  if (language === 'python') {
    // The start-up snapshot's key already covers Pyodide's version, the runtime and the boot.
    const [{ snapshotKey }, { version }] = await Promise.all([import('../../wasm/python/snapshot-key.js'), import('pyodide')]);
    return `pyodide/${version}+${(await snapshotKey()).slice(0, 16)}`;
  }
  const [{ WASMOON_VERSION }, { SHIM_5_4_LUA }, { PRELUDE_LUA }, { FILES_LUA }] = await Promise.all([
    import('../../wasm/lua/version.js'),
    import('../lang/lua/shim-5.4.lua.generated.js'),
    import('../lang/lua/prelude.lua.generated.js'),
    import('../lang/lua/files.lua.generated.js'),
  ]);
  const text = [SHIM_5_4_LUA, PRELUDE_LUA, FILES_LUA].map((p) => `${p.length}:${p}`).join('');
  return `wasmoon/${WASMOON_VERSION}+${(await sha256Hex(new TextEncoder().encode(text))).slice(0, 16)}`;
}

/** The runtime identity of wasm engines of `language` in this build of ScriptBox. */
export function sessionRuntime(language: Language): Promise<string> {
  let id = ids.get(language);
  if (!id) ids.set(language, (id = compute(language)));
  return id;
}
