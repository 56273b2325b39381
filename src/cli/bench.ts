/**
 * `scriptbox bench`: runs the shared benchmark harness (src/bench/) and prints the table;
 * `--json FILE` writes DESIGN §7's JSON (`--json` alone prints it to stdout); `--check`
 * then evaluates the ratio guards (src/bench/guards.ts) over the same run.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CHECK_SETS, evaluateGuards, describeOutcome, formatGuards, guardsFor, type CheckSet } from '../bench/guards.js';
import { formatTable } from '../bench/report.js';
import { runBench } from '../bench/runner.js';
import { WORKLOADS } from '../bench/workloads.js';
import { InvalidInputError, ScriptBoxError } from '../errors.js';
import { createEngine } from '../index.js';
import * as env from '../node/bench-env.js';
import { releaseSpareWorker } from '../node/worker-host.js';

export const BENCH_USAGE = `usage: scriptbox bench [--quick] [--json [FILE]] [--only WORKLOAD,...] [--targets PATTERN] [--check [all|ci]]

  --quick            a short pass (CI runs it to check the harness works)
  --json [FILE]      write the report as JSON to FILE (stdout without FILE; the table goes to stderr)
  --only W,...       workloads: ${WORKLOADS.map((w) => w.id).join(', ')}
  --targets PATTERN  e.g. python/*, */wasm/worker, lua/wasm/process (comma-separated)
  --check [all|ci]   after the run, evaluate the ratio guards over it (all, or the ones CI enforces);
                     exit 1 if one fails. Guards whose rows were not measured are not evaluated.`;

/** `--json` / `--check` with no value (last, or before another flag) take their default. */
function withDefaults(argv: string[]): string[] {
  const bare: Record<string, string> = { '--json': '--json=-', '--check': '--check=all' };
  return argv.map((a, i) => (bare[a] && (i === argv.length - 1 || argv[i + 1]!.startsWith('--')) ? bare[a] : a));
}

/** The guard set `--check` names; throws InvalidInputError for any other word. */
export function checkSet(value: string): CheckSet {
  if ((CHECK_SETS as readonly string[]).includes(value)) return value as CheckSet;
  throw new InvalidInputError(`--check takes ${CHECK_SETS.join(' or ')} (or nothing, meaning all), not ${JSON.stringify(value)}`);
}

export async function benchMain(argv: string[]): Promise<number> {
  const args = withDefaults(argv);
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        quick: { type: 'boolean', default: false },
        json: { type: 'string' },
        only: { type: 'string' },
        targets: { type: 'string' },
        check: { type: 'string' },
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
  let check: CheckSet | undefined;
  try {
    if (values.check !== undefined) check = checkSet(values.check);
  } catch (e) {
    const err = e as ScriptBoxError;
    process.stderr.write(`scriptbox bench: ${err.code}: ${err.message}\n${BENCH_USAGE}\n`);
    return 2;
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
    if (check) report.guards = evaluateGuards(report, guardsFor(check));
    const table = report.guards ? `${formatTable(report)}\n\n${formatGuards(report.guards)}` : formatTable(report);
    const json = `${JSON.stringify(report, null, 2)}\n`;
    if (values.json === '-') {
      process.stderr.write(`${table}\n`);
      process.stdout.write(json);
    } else {
      process.stdout.write(`${table}\n`);
      if (values.json) await writeFile(values.json, json);
    }
    const failed = (report.guards ?? []).filter((g) => g.status === 'fail');
    if (failed.length) {
      process.stderr.write(
        `\nscriptbox bench --check: ${failed.length} guard${failed.length === 1 ? '' : 's'} failed:\n${failed.map((g) => `  ${describeOutcome(g)}`).join('\n')}\n`,
      );
    }
    return failed.length || report.skipped.some((s) => s.reason.startsWith('failed')) ? 1 : 0;
  } catch (e) {
    const err = e as ScriptBoxError;
    process.stderr.write(`\nscriptbox bench: ${err.code ?? 'ERROR'}: ${err.message}\n`);
    return 2;
  }
}
