/**
 * `scriptbox bench`: runs the shared benchmark harness (src/bench/) and prints the table;
 * `--json FILE` writes DESIGN §7's JSON (`--json` alone prints it to stdout).
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatTable } from '../bench/report.js';
import { runBench } from '../bench/runner.js';
import { WORKLOADS } from '../bench/workloads.js';
import { ScriptBoxError } from '../errors.js';
import { createEngine } from '../index.js';
import * as env from '../node/bench-env.js';
import { releaseSpareWorker } from '../node/worker-host.js';

export const BENCH_USAGE = `usage: scriptbox bench [--quick] [--json [FILE]] [--only WORKLOAD,...] [--targets PATTERN]

  --quick            a short pass (CI runs it to check the harness works; never a timing)
  --json [FILE]      write the report as JSON to FILE (stdout without FILE; the table goes to stderr)
  --only W,...       workloads: ${WORKLOADS.map((w) => w.id).join(', ')}
  --targets PATTERN  e.g. python/*, */wasm/worker, lua/wasm/process (comma-separated)`;

export async function benchMain(argv: string[]): Promise<number> {
  // `--json` with no file (last, or before another flag) means stdout.
  const args = argv.map((a, i) => (a === '--json' && (i === argv.length - 1 || argv[i + 1]!.startsWith('--')) ? '--json=-' : a));
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        quick: { type: 'boolean', default: false },
        json: { type: 'string' },
        only: { type: 'string' },
        targets: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    process.stderr.write(`scriptbox bench: ${(e as Error).message}\n${BENCH_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  const tty = process.stderr.isTTY;
  const started = performance.now();
  const progress = (text: string) => {
    const line = `[${((performance.now() - started) / 1000).toFixed(0)}s] ${text}`;
    process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  try {
    const report = await runBench(
      {
        quick: values.quick,
        ...(values.only
          ? {
              only: values.only
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean),
            }
          : {}),
        ...(values.targets ? { targets: values.targets } : {}),
        progress,
      },
      {
        node: true,
        cpus: env.cpuCount(),
        nodeVersion: process.version,
        platform: `${process.platform}-${process.arch}`,
        baselines: env,
        rssBytes: env.rssBytes,
        settle: env.settle,
        releaseSpareWorker,
        createEngine,
        nativeMissing: env.nativeMissing,
      },
    );
    if (tty) process.stderr.write('\r\x1b[K');
    const table = formatTable(report);
    const json = `${JSON.stringify(report, null, 2)}\n`;
    if (values.json === '-') {
      process.stderr.write(`${table}\n`);
      process.stdout.write(json);
    } else {
      process.stdout.write(`${table}\n`);
      if (values.json) await writeFile(values.json, json);
    }
    return report.skipped.some((s) => s.reason.startsWith('failed')) ? 1 : 0;
  } catch (e) {
    const err = e as ScriptBoxError;
    process.stderr.write(`\nscriptbox bench: ${err.code ?? 'ERROR'}: ${err.message}\n`);
    return 2;
  }
}
