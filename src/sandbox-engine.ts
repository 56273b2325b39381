/**
 * @deprecated The engine is src/engine/engine.ts (`Engine`). Kept only so tests that build
 * an engine on a custom connection keep compiling while the tree moves (issue 19); import
 * `Engine` from './engine/engine.js' instead.
 */
export { Engine as SandboxEngine } from './engine/engine.js';
