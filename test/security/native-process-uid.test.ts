/**
 * Issue 17 class 8 with a libpython that uid 65534 can read (Debian's own libpython3.11,
 * via SCRIPTBOX_LIBPYTHON): as root, the child must also drop to that uid. Without such a
 * library (or not as root) the suite still runs and checks the refusal is reported.
 */
import { describe } from 'vitest';
import { nativeAvailable } from '../../src/node/native-libs.js';
import { isolationSuite, readableSystemPython } from './native-isolation-attacks.js';

const lib = readableSystemPython();
// Before anything looks the library up: native-libs.ts caches what it finds.
if (lib && !process.env.SCRIPTBOX_LIBPYTHON) process.env.SCRIPTBOX_LIBPYTHON = lib;

describe.skipIf(!nativeAvailable('python'))('native process placement as an unprivileged uid', () => {
  isolationSuite({ expectUid: !!lib && process.getuid?.() === 0 && process.env.SCRIPTBOX_LIBPYTHON === lib });
});
