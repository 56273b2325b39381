/** Helpers every workload module shares: sampling budgets, the inline skip reason. */
import type { Budget, EngineTarget } from './types.js';

/** Iterations and time for a workload, in the quick pass and the full run. */
export const budget = (quick: boolean, iterations: [number, number], time: [number, number], warm = true): Budget => ({
  iterations: quick ? iterations[0] : iterations[1],
  time: quick ? time[0] : time[1],
  warmupIterations: warm ? (quick ? 20 : 200) : 0,
  warmupTime: warm ? (quick ? 50 : 300) : 0,
  warmup: warm,
});

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why a workload that needs interrupt() or a kill cannot run inline. */
export const noInterrupt = (t: EngineTarget) => {
  if (t.placement === 'inline')
    return "inline runs on the caller's thread, so nothing can call interrupt() while a script runs (its deadline stops it)";
  if (t.backend === 'native' && t.language === 'lua' && t.placement === 'worker') {
    return 'LuaJIT runs a JIT-compiled endless loop without looking at hooks, and a worker thread inside native code cannot be killed: only placement process stops it';
  }
  return undefined;
};

/** Workloads that need a stuck core killed: a thread inside native code cannot be. */
export const noKill = (t: EngineTarget) =>
  noInterrupt(t) ??
  (t.backend === 'native' && t.placement === 'worker'
    ? 'a native engine stuck in C code cannot be killed in a worker thread (Node cannot stop a thread inside native code): only placement process restarts it'
    : undefined);
