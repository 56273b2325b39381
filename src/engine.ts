/**
 * @deprecated Moved to src/engine/types.ts. Kept only so modules not yet updated keep
 * compiling while the tree moves (issue 19); import from './engine/types.js' instead.
 */
export type * from './engine/types.js';
