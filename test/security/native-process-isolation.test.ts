/**
 * Issue 17 class 8: a native process child cannot see or signal the host, with the
 * library this host finds (here it may live under /root, which keeps the child uid 0
 * without capabilities, and the report must say so).
 */
import { describe } from 'vitest';
import { nativeAvailable } from '../../src/node/native-libs.js';
import { isolationSuite } from './native-isolation-attacks.js';

describe.skipIf(!nativeAvailable('python'))('native process placement: the host stays out of reach', () => {
  isolationSuite({ expectUid: false });
});
