/**
 * The process placement's pre-started child, the counterpart of the worker placement's
 * spare worker (src/node/worker-host.ts): once an engine of a snapshot has booted in a
 * child process, the next child is started, Python loaded in it and that snapshot restored
 * (src/node/process-child.ts, `prime`), so the next engine of that snapshot (a new engine,
 * or a restart after a kill) skips Node's start, the imports and the restore.
 *
 * An idle spare is not counted as a live engine process and never keeps the host alive;
 * it ends with the host (its pipe closes), or with `releaseSpareWorker()`.
 */
import { frame, frameHeader } from '../channel/frames.js';
import type { CoreInit, Language } from '../core.js';
import type { ProcessPipe, ProcessSpawner } from '../placement/process.js';
import { encode } from '../values.js';
import { startSpareEngineProcess, type SpareProcess } from './process-host.js';
import { releaseWithSpareWorker } from './worker-host.js';

/** How long after an engine booted its successor's spare starts. */
const SPARE_DELAY_MS = 100;

let spare: { child: SpareProcess; language: Language; snapshot: Uint8Array } | undefined;

const spares = { started: 0, taken: 0 };

/** Pre-started engine children: `idle` now (0 or 1), `started` and `taken` by engines so far. */
export function spareChildren(): { idle: number; started: number; taken: number } {
  return { idle: spare && !spare.child.exited ? 1 : 0, ...spares };
}

/** Stops the pre-started child, if any (it comes back with the next fast-starting engine). */
export async function releaseSpareChild(): Promise<void> {
  const s = spare;
  spare = undefined;
  await s?.child.kill();
}

releaseWithSpareWorker(releaseSpareChild);

function startSpare(language: Language, snapshot: Uint8Array): void {
  if (spare && !spare.child.exited) {
    if (spare.snapshot === snapshot) return;
    // Primed for a snapshot no engine uses any more (the process took a new one).
    void releaseSpareChild();
  }
  const child = startSpareEngineProcess();
  const s = { child, language, snapshot };
  // A spare that dies while idle is simply not there for the next engine.
  child.onExit(() => {
    if (spare === s) spare = undefined;
  });
  // The snapshot goes as a frame of its own, straight from the shared copy (no encode, no copy).
  child.write(frame(encode({ t: 'prime', language, snapshotFrame: true })));
  child.write(frameHeader(snapshot.byteLength));
  child.write(snapshot);
  spare = s;
  spares.started++;
}

/**
 * A spawner that takes the pre-started child when it suits the core (same language, and
 * the snapshot it restored is the one `init` brings), and starts the next one once the
 * engine it handed out has booted (so the two never race for the CPU during a start).
 * Only engines that boot from a snapshot get or leave a spare.
 */
export function primedProcessSpawner(): ProcessSpawner {
  return (init: CoreInit): ProcessPipe => {
    const snapshot = init.snapshot;
    let child: SpareProcess;
    let primed: Uint8Array | undefined;
    if (snapshot && spare && !spare.child.exited && spare.language === init.language && spare.snapshot === snapshot) {
      ({ child, snapshot: primed } = spare);
      spare = undefined;
      spares.taken++;
    } else {
      child = startSpareEngineProcess();
    }
    child.handOut();
    return {
      primed,
      write: (bytes) => child.write(bytes),
      writeStop: (record) => child.writeStop?.(record),
      onData: (cb) => child.onData(cb),
      onExit: (cb) => child.onExit(cb),
      booted: () => {
        child.booted();
        // Started a little later: spawning a process and sending it the snapshot take the
        // host's thread for a while, which this engine's first request should not wait for.
        if (snapshot) setTimeout(() => startSpare(init.language, snapshot), SPARE_DELAY_MS).unref();
      },
      kill: () => child.kill(),
    };
  };
}
