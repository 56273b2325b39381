/**
 * `scriptbox snapshot build|clear [--dir DIR]`: makes (or remakes) the Python memory
 * snapshot engines start from, ahead of time, or removes the cached snapshots. The
 * snapshot cache is the one `snapshot: true` (or `snapshot: { dir }`) uses.
 */
import { rm, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createEngine } from '../index.js';
import { ScriptBoxError } from '../errors.js';
import { clearSnapshots, defaultSnapshotDir, snapshotFile } from '../node/snapshot-cache.js';
import { flushSnapshots, forgetSnapshots } from '../snapshot/fast-start.js';
import { snapshotSetup } from '../snapshot/setup.js';

const usage = () => `usage: scriptbox snapshot build [--dir DIR]
       scriptbox snapshot clear [--dir DIR]

  build      boot Python from scratch, take the memory snapshot engines start from, write
             it to the cache (replacing the one there), then time a start from it
  clear      remove every cached snapshot from the cache directory
  --dir DIR  the cache directory (default: ${defaultSnapshotDir()})`;

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** ms from createEngine to a first result, with this process's in-memory snapshots forgotten first. */
async function timedStart(dir: string): Promise<number> {
  forgetSnapshots();
  const t0 = performance.now();
  const engine = await createEngine('python', { snapshot: { dir } });
  await engine.exec('1 + 1');
  const ms = performance.now() - t0;
  await engine.dispose();
  return ms;
}

async function build(dir: string): Promise<number> {
  const { key, store } = (await snapshotSetup({ dir }))!;
  const file = snapshotFile(store!.where, key);
  // A rebuild, not a lookup: the file for this key goes first.
  await rm(file, { force: true });
  const built = await timedStart(dir);
  await flushSnapshots();
  // The next start reads the file back (checked) as a new process would.
  const restored = await timedStart(dir);
  const size = await stat(file).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined) {
    process.stderr.write(`scriptbox: the snapshot was taken but could not be written to ${store!.where}\n`);
    return 1;
  }
  process.stdout.write(
    `built the Python snapshot in ${seconds(built)}: ${file} (${(size / 1024 / 1024).toFixed(1)} MiB)\n` +
      `a new engine starts from it in ${seconds(restored)} (create -> first result, read from the file)\n`,
  );
  return 0;
}

export async function snapshotMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (e) {
    process.stderr.write(`scriptbox: ${(e as Error).message}\n${usage()}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if ((command !== 'build' && command !== 'clear') || rest.length > 0) {
    process.stderr.write(`scriptbox: expected \`snapshot build\` or \`snapshot clear\`\n${usage()}\n`);
    return 2;
  }
  if (values.dir !== undefined && values.dir.trim() === '') {
    process.stderr.write('scriptbox: --dir takes a directory path\n');
    return 2;
  }
  const dir = values.dir ?? defaultSnapshotDir();
  try {
    if (command === 'clear') {
      const n = await clearSnapshots(dir);
      process.stdout.write(`removed ${n} snapshot file${n === 1 ? '' : 's'} from ${dir}\n`);
      return 0;
    }
    return await build(dir);
  } catch (e) {
    const err = e as ScriptBoxError;
    process.stderr.write(`scriptbox: ${err.code ?? 'ERROR'}: ${err.message}\n`);
    return 2;
  }
}
