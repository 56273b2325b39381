/**
 * The engine children of this test process (Linux /proc): the processes the process
 * placement started, found by their entry script, so tests can check what is left alive.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { sep } from 'node:path';

export interface EngineChild {
  pid: number;
  argv: string[];
  environ: string;
}

/** Children of this process that run the engine's child entry; empty where there is no /proc. */
export function engineChildren(): EngineChild[] {
  if (!existsSync('/proc/self/stat')) return [];
  const found: EngineChild[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (!argv.some((a) => a.endsWith(`${sep}process-child.js`))) continue;
      found.push({ pid: Number(name), argv, environ: readFileSync(`/proc/${name}/environ`, 'utf8') });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** Their pids. */
export const engineChildPids = (): number[] => engineChildren().map((c) => c.pid);
