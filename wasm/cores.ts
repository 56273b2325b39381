/** Boots the core for a language: the one place that knows every wasm backend. */
import type { CoreFactory } from '../src/core.js';
import { UnavailableError } from '../src/errors.js';
import { LuaCore } from './lua/core.js';

export const createCore: CoreFactory = async (init, env) => {
  switch (init.language) {
    case 'lua':
      return LuaCore.create(init, env);
    default:
      throw new UnavailableError(`the ${init.language} wasm backend is not built yet`);
  }
};
