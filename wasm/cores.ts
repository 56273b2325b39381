/** Boots the core for a language: the one place that knows every wasm backend. */
import type { CoreFactory } from '../src/core.js';
import { InvalidInputError } from '../src/errors.js';

export const createCore: CoreFactory = async (init, env) => {
  switch (init.language) {
    case 'lua': {
      const { LuaCore } = await import('./lua/core.js');
      return LuaCore.create(init, env);
    }
    case 'python': {
      const { PythonCore } = await import('./python/core.js');
      return PythonCore.create(init, env);
    }
    default:
      throw new InvalidInputError(`unknown language ${JSON.stringify(init.language)}`);
  }
};

/** Starts loading a language's modules ahead of its boot (a spare worker); errors surface at boot. */
export function primeCore(language: string): void {
  if (language !== 'python') return;
  void Promise.all([import('./python/core.js'), import('./python/boot.js').then((b) => b.primePython())]).catch(() => {});
}
