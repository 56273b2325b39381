/**
 * The error codes the public API may throw (src/errors.ts), written out here so the
 * security suites check thrown errors against a list of their own, not the code under test.
 */
export const CODES = new Set([
  'SCRIPT_ERROR',
  'TIMEOUT',
  'PERMISSION_DENIED',
  'MEMORY_LIMIT',
  'ENGINE_CRASHED',
  'INVALID_INPUT',
  'UNAVAILABLE',
  'DISPOSED',
  'ABORTED',
  'QUEUE_FULL',
  'INTERRUPTED',
]);
