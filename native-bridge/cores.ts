/**
 * Boots the native core for a language: the one place that knows every native backend.
 * Both load their library through koffi (src/node/native-libs.ts finds it) and run in the
 * caller's process: trusted code only, unless the placement is 'process'.
 */
import type { CoreFactory } from '../src/core.js';
import { InvalidInputError } from '../src/errors.js';

export const createNativeCore: CoreFactory = async (init, env) => {
  if (init.nativeLibrary) {
    const { preferLibrary } = await import('../src/node/native-libs.js');
    preferLibrary(init.language, init.nativeLibrary);
  }
  switch (init.language) {
    case 'lua': {
      const { createLuaJitCore } = await import('./luajit/core.js');
      return createLuaJitCore(init, env);
    }
    case 'python': {
      const { createCPythonCore } = await import('./cpython/core.js');
      return createCPythonCore(init, env);
    }
    default:
      throw new InvalidInputError(`unknown language ${JSON.stringify(init.language)}`);
  }
};
