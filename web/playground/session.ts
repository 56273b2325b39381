/**
 * The playground's REPL sessions: one engine per language, created on first run and kept
 * across runs (so names defined in one run are there in the next), sharing one kv store.
 * Capabilities are fixed when an engine is made, so a changed set of toggles makes the next
 * run start a new session: the grant a script sees is the real one, not a UI filter.
 */
import { createEngine, type ExecResult, type Language, type LogEntry, type ScriptEngine, type SessionSnapshot } from '../../src/index.js';
import type { ObservedStore } from './observed-store.js';

/** The toggles the playground offers and the capability patterns each one grants. */
export const TOGGLES = {
  log: ['log'],
  kv: ['kv.*'],
  channel: ['channel.*'],
  fetch: ['net.fetch'],
  config: ['config.read'],
} as const satisfies Record<string, readonly string[]>;
export type Toggle = keyof typeof TOGGLES;
export const TOGGLE_NAMES = Object.keys(TOGGLES) as Toggle[];

/** Parses `capabilities="log,kv"`; unknown names are reported, not ignored silently. */
export function parseToggles(text: string | null): { on: Set<Toggle>; unknown: string[] } {
  const on = new Set<Toggle>();
  const unknown: string[] = [];
  for (const raw of (text ?? '').split(/[\s,]+/)) {
    const name = raw.trim();
    if (!name) continue;
    if ((TOGGLE_NAMES as string[]).includes(name)) on.add(name as Toggle);
    else unknown.push(name);
  }
  return { on, unknown };
}

export interface SessionEvents {
  /** Streaming output while a script runs. */
  output(stream: 'stdout' | 'stderr', text: string): void;
  log(entry: LogEntry): void;
  /** The script waits for a line (input(), io.read()): answer it, or null for end of input. */
  input(prompt: string): Promise<string | null>;
  /** The engine for `language` started booting (true) or finished (false). */
  booting(language: Language, busy: boolean): void;
}

export interface RunOutcome {
  result: ExecResult;
  memoryBytes: number;
  /** A new session started for this run (first run, Reset, changed capabilities, or a restart). */
  fresh: boolean;
  /** The engine was killed and restarted during the run (Stop escalated): the session's names are gone. */
  restarted: boolean;
}

interface Live {
  engine: ScriptEngine;
  grants: string;
  restarts: number;
}

export class PlaygroundSessions {
  private readonly live = new Map<Language, Promise<Live>>();
  private readonly bootMs = new Map<Language, number>();

  constructor(
    private readonly store: ObservedStore,
    private readonly events: SessionEvents,
    private readonly timeoutMs = 60_000,
  ) {}

  /** How long the last boot of `language` took, if it has booted. */
  bootTime(language: Language): number | undefined {
    return this.bootMs.get(language);
  }

  private grants(toggles: Set<Toggle>): string[] {
    return [...toggles].sort().flatMap((t) => TOGGLES[t]);
  }

  private async make(language: Language, grants: string[], restore?: SessionSnapshot): Promise<Live> {
    this.events.booting(language, true);
    const started = performance.now();
    try {
      const engine = await createEngine(language, {
        capabilities: grants,
        state: this.store,
        allowedHosts: [location.host],
        // What host.config.get reads: where the page is, so host.fetch can reach it.
        config: { origin: location.origin, language },
        limits: { timeoutMs: this.timeoutMs, graceMs: 300 },
        onOutput: (c) => this.events.output(c.stream, c.text),
        onLog: (e) => this.events.log(e),
        onInput: (prompt) => this.events.input(prompt),
        ...(restore ? { restore } : {}),
      });
      this.bootMs.set(language, performance.now() - started);
      return { engine, grants: grants.join(','), restarts: 0 };
    } finally {
      this.events.booting(language, false);
    }
  }

  /** The session for `language` with these grants: the live one, or a new one. */
  private async session(language: Language, toggles: Set<Toggle>): Promise<{ live: Live; fresh: boolean }> {
    const grants = this.grants(toggles);
    const current = this.live.get(language);
    if (current) {
      const live = await current.catch(() => undefined);
      if (live && live.grants === grants.join(',')) return { live, fresh: false };
      this.live.delete(language);
      await live?.engine.dispose();
    }
    const made = this.make(language, grants);
    this.live.set(language, made);
    made.catch(() => this.live.delete(language));
    return { live: await made, fresh: true };
  }

  /** A session snapshot of `language`'s live session (docs/session-snapshots.md); undefined when none is up. */
  async snapshot(language: Language): Promise<SessionSnapshot | undefined> {
    const live = await this.live.get(language)?.catch(() => undefined);
    return live?.engine.snapshot();
  }

  /**
   * Replaces `language`'s session with one restored from `snap`, with the capabilities of
   * the toggles now (a snapshot carries none). The old session ends only once the new one
   * is up: a snapshot that cannot be restored leaves it as it was.
   */
  async open(language: Language, snap: SessionSnapshot, toggles: Set<Toggle>): Promise<void> {
    const live = await this.make(language, this.grants(toggles), snap);
    const old = this.live.get(language);
    this.live.set(language, Promise.resolve(live));
    await (await old?.catch(() => undefined))?.engine.dispose();
  }

  /** Boots the engine for `language` ahead of the first run. */
  async prepare(language: Language, toggles: Set<Toggle>): Promise<void> {
    await this.session(language, toggles);
  }

  async run(language: Language, code: string, toggles: Set<Toggle>): Promise<RunOutcome> {
    const { live, fresh } = await this.session(language, toggles);
    const result = await live.engine.exec(code);
    const stats = await live.engine.stats();
    const restarted = stats.restarts > live.restarts;
    live.restarts = stats.restarts;
    return { result, memoryBytes: stats.memoryBytes, fresh, restarted };
  }

  /** Interrupts the running script; the engine kills and restarts its worker if the script does not stop. */
  stop(language: Language): void {
    void this.live.get(language)?.then(
      (l) => l.engine.interrupt(),
      () => {},
    );
  }

  /** Ends the session for `language`; the next run starts a new one. */
  async reset(language: Language): Promise<void> {
    const current = this.live.get(language);
    this.live.delete(language);
    const live = await current?.catch(() => undefined);
    await live?.engine.dispose();
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.live.keys()].map((l) => this.reset(l)));
  }
}
