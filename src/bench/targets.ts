/**
 * Every language x backend x placement the harness knows, and whether this machine can
 * run it. What cannot run is listed with the reason instead of silently left out.
 */
import type { EngineTarget } from './types.js';

export const LANGUAGES = ['python', 'lua'] as const;
export const BACKENDS = ['wasm', 'native'] as const;
export const PLACEMENTS = ['worker', 'process', 'inline'] as const;

export interface TargetChoice {
  target: EngineTarget;
  /** Set when the target cannot run here. */
  unavailable?: string;
}

/**
 * `nativeMissing` says why a language's native backend cannot load here (the library is
 * missing), or undefined when it can.
 */
export function allTargets(env: {
  node: boolean;
  nativeMissing?: (language: EngineTarget['language']) => string | undefined;
}): TargetChoice[] {
  const out: TargetChoice[] = [];
  for (const language of LANGUAGES) {
    for (const backend of BACKENDS) {
      for (const placement of PLACEMENTS) {
        const target: EngineTarget = { id: `${language}/${backend}/${placement}`, language, backend, placement };
        let unavailable: string | undefined;
        if (backend === 'native') unavailable = env.node ? env.nativeMissing?.(language) : "backend 'native' needs Node";
        else if (placement === 'process' && !env.node) unavailable = "placement 'process' needs Node";
        out.push(unavailable ? { target, unavailable } : { target });
      }
    }
  }
  return out;
}

/** `--targets` patterns, comma-separated; `*` matches within one part of a target id (e.g. `python/*`). */
export function targetMatcher(pattern: string | undefined): (id: string) => boolean {
  if (!pattern) return () => true;
  const res = pattern
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const rx = p
        .split('*')
        .map((part) => part.replace(/[.+?^$()|{}[\]\\]/g, (c) => `\\${c}`))
        .join('[^/]*');
      return new RegExp(`^${rx}(/.*)?$`);
    });
  return (id) => res.some((r) => r.test(id));
}
