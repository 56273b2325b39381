/**
 * The wasmoon build the Lua backend runs: part of a session snapshot's runtime identity
 * (src/session/runtime.ts), since a Lua heap is only meaningful to the same build.
 * test/session/runtime.test.ts checks it against the installed package.
 */
export const WASMOON_VERSION = '1.16.0';
