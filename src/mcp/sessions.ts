/**
 * Interpreter sessions: live engines whose globals persist between tool calls, named by ids
 * the agent passes back (the MCP spec has no transport-level sessions to hang them on).
 * Bounded by `maxSessions`; one unused for `sessionIdleMs` is closed.
 */
import { randomBytes } from 'node:crypto';
import type { Language, ScriptEngine } from '../engine/types.js';
import { InvalidInputError, QueueFullError } from '../errors.js';
import type { Engines } from './engines.js';

export interface Session {
  readonly id: string;
  readonly language: Language;
  readonly engine: ScriptEngine;
  readonly openedAt: number;
  lastUsed: number;
  calls: number;
  /** Calls running or queued now: a busy session is never evicted. */
  busy: number;
}

export interface SessionInfo {
  session: string;
  language: Language;
  calls: number;
  idleMs: number;
  ageMs: number;
}

export class Sessions {
  private readonly open = new Map<string, Session>();
  /** Opens under way count against maxSessions too. */
  private opening = 0;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly engines: Engines,
    private readonly limits: { maxSessions: number; sessionIdleMs: number },
  ) {
    this.timer = setInterval(() => void this.evictIdle(), Math.min(60_000, Math.max(100, limits.sessionIdleMs / 4)));
    this.timer.unref();
  }

  async openSession(language: Language): Promise<Session> {
    if (this.open.size + this.opening >= this.limits.maxSessions) {
      throw new QueueFullError(
        `${this.limits.maxSessions} sessions are open, the server's limit (maxSessions); close one with close_session, or run without a session`,
      );
    }
    this.opening++;
    try {
      const engine = await this.engines.create(language);
      const now = performance.now();
      const s: Session = {
        id: `${language === 'python' ? 'py' : 'lua'}-${randomBytes(6).toString('hex')}`,
        language,
        engine,
        openedAt: now,
        lastUsed: now,
        calls: 0,
        busy: 0,
      };
      this.open.set(s.id, s);
      return s;
    } finally {
      this.opening--;
    }
  }

  /** The session `id`, for a call in `language`; a tool error naming the problem otherwise. */
  get(id: string, language?: Language): Session {
    const s = this.open.get(id);
    if (!s) {
      throw new InvalidInputError(
        `unknown session '${id}': it was never opened, was closed, or was closed after ${Math.round(this.limits.sessionIdleMs / 1000)} s unused; open one with open_session (list_sessions shows the open ones)`,
      );
    }
    if (language && s.language !== language) {
      throw new InvalidInputError(
        `session '${id}' runs ${s.language}, not ${language}; use run_${s.language} or open a ${language} session`,
      );
    }
    return s;
  }

  list(): SessionInfo[] {
    const now = performance.now();
    return [...this.open.values()].map((s) => ({
      session: s.id,
      language: s.language,
      calls: s.calls,
      idleMs: s.busy ? 0 : Math.round(now - s.lastUsed),
      ageMs: Math.round(now - s.openedAt),
    }));
  }

  async close(id: string): Promise<void> {
    const s = this.get(id);
    this.open.delete(id);
    await s.engine.dispose();
  }

  private async evictIdle(): Promise<void> {
    const now = performance.now();
    const stale = [...this.open.values()].filter((s) => s.busy === 0 && now - s.lastUsed > this.limits.sessionIdleMs);
    for (const s of stale) this.open.delete(s.id);
    await Promise.all(stale.map((s) => s.engine.dispose()));
  }

  async dispose(): Promise<void> {
    clearInterval(this.timer);
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((s) => s.engine.dispose()));
  }
}
