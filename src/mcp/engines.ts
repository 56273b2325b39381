/**
 * Where the MCP server's engines come from: engine options made once from the config, a
 * warm pool per language for calls without a session (`reset: 'fresh'`: no call sees
 * another's state), and single engines for sessions. Every engine gets its own output
 * sink, so a call can stream the stdout of exactly the engine it runs on.
 */
import { createEngine } from '../index.js';
import type { EngineOptions, Language, ScriptEngine } from '../engine/types.js';
import type { HostFunction } from '../capabilities/registry.js';
import { EnginePool } from '../pool/engine-pool.js';
import { MemoryStore } from '../state/memory.js';
import type { McpConfig } from './config.js';

export type OutputChunk = { stream: 'stdout' | 'stderr'; text: string };

/** Where an engine's output goes while a call runs on it (nowhere between calls). */
export interface OutputSink {
  write?: (chunk: OutputChunk) => void;
}

export class Engines {
  private readonly sinks = new WeakMap<ScriptEngine, OutputSink>();
  private readonly pools = new Map<Language, Promise<EnginePool>>();
  private readonly options: EngineOptions;
  private closed = false;

  constructor(
    private readonly config: McpConfig,
    hostFunctions: Record<string, { fn: HostFunction; capability: string }>,
  ) {
    this.options = {
      placement: config.placement,
      capabilities: config.capabilities,
      hostFunctions,
      limits: {
        timeoutMs: config.timeoutMs,
        memoryBytes: config.memoryMb * 1024 * 1024,
        maxOutputBytes: config.maxOutputBytes,
        maxCodeBytes: config.maxCodeBytes,
      },
      // One kv for the whole server, so a value set in one call is there in the next (fresh engines included).
      state: new MemoryStore(),
      // stdout is the MCP stdio channel: host.log must never write there.
      onLog: ({ level, message }) => void process.stderr.write(`[scriptbox ${level}] ${message}\n`),
      ...(config.allowedHosts.length ? { allowedHosts: config.allowedHosts } : {}),
      ...(config.mounts.length ? { mounts: config.mounts } : {}),
    };
  }

  /** A new engine with its own sink (a session's). */
  async create(language: Language, options: EngineOptions = this.options): Promise<ScriptEngine> {
    const sink: OutputSink = {};
    const engine = await createEngine(language, { ...options, onOutput: (c) => sink.write?.(c) });
    this.sinks.set(engine, sink);
    return engine;
  }

  sink(engine: ScriptEngine): OutputSink {
    return this.sinks.get(engine) ?? {};
  }

  /** The warm pool of fresh engines for `language`, started on first use (or by `warm`). */
  pool(language: Language): Promise<EnginePool> {
    let p = this.pools.get(language);
    if (!p) {
      const { warmEngines } = this.config;
      p = EnginePool.start(language, { ...this.options, min: warmEngines, max: Math.max(warmEngines, 4), reset: 'fresh' }, (lang, o) =>
        this.create(lang, o),
      );
      // A failed start is not cached: the next call tries again and reports its own error.
      p.catch(() => this.pools.delete(language));
      this.pools.set(language, p);
    }
    return p;
  }

  /** Starts both pools now so the first call does not wait for a boot. */
  warm(): void {
    for (const language of ['python', 'lua'] as const) {
      this.pool(language).catch((e: Error) => process.stderr.write(`scriptbox mcp: could not start the ${language} pool: ${e.message}\n`));
    }
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(
      pools.map(async (p) => {
        // A pool that never started has nothing to dispose (its start error was reported to the call that asked).
        const pool = await p.catch(() => undefined);
        await pool?.dispose();
      }),
    );
  }
}
