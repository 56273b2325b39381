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

/**
 * What a spare worker does ahead of its engine: loads the language's modules and, given a
 * snapshot, restores it (Python). The result goes to the core as `env.restoredAhead`;
 * errors surface at boot, which then goes the usual way.
 */
export function primeCore(
  language: string,
  ahead: { snapshot?: Uint8Array; pyodideModule?: WebAssembly.Module },
): Promise<unknown> | undefined {
  if (language !== 'python') return undefined;
  const loaded = Promise.all([import('./python/core.js'), import('./python/boot.js')]).then(([, b]) =>
    ahead.snapshot ? b.restoreAhead(ahead.snapshot, ahead.pyodideModule) : b.primePython().then(() => undefined),
  );
  // The core awaits `loaded` at boot and fails there; this handler only keeps a spare whose
  // engine never comes from reporting an unhandled rejection.
  loaded.catch(() => undefined);
  return loaded;
}
