/**
 * Bench reports on the page: a JSON file checked at the boundary (it is untrusted input),
 * the browser's `machine`, and how rows of two reports line up and read.
 */
import type { BenchReport, BenchResult, Skipped, Unit } from '../../src/bench/types.js';

/** The browser report's `machine`: Node's fields, from navigator (there is no Node here). */
export function browserMachine(): BenchReport['machine'] & { browser: string; crossOriginIsolated: boolean } {
  const ua = navigator.userAgent;
  return {
    cpus: navigator.hardwareConcurrency || 0,
    node: 'none (browser)',
    platform: shortUserAgent(ua),
    when: new Date().toISOString(),
    browser: ua,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
  };
}

/** "HeadlessChrome 140 on Linux x86_64" from a user agent string. */
export function shortUserAgent(ua: string): string {
  // In order: Edge and Opera also say Chrome, Chrome also says Safari, Android also says Linux.
  const first = (patterns: RegExp[]) => patterns.map((p) => p.exec(ua)).find(Boolean);
  const b = first([
    /(Edg)\/(\d+)/,
    /(OPR)\/(\d+)/,
    /(HeadlessChrome)\/(\d+)/,
    /(Chrome)\/(\d+)/,
    /(Firefox)\/(\d+)/,
    /Version\/(\d+).*(Safari)/,
  ]);
  const name = !b
    ? ua.slice(0, 40)
    : b[2] === 'Safari'
      ? `Safari ${b[1]}`
      : `${b[1] === 'Edg' ? 'Edge' : b[1] === 'OPR' ? 'Opera' : b[1]} ${b[2]}`;
  const os = first([
    /Android [\d.]+/,
    /(iPhone|CPU) OS [\d_]+/,
    /Windows NT [\d.]+/,
    /Mac OS X [\d_.]+/,
    /CrOS \w+/,
    /Linux \w+/,
    /Linux/,
  ])?.[0];
  // Apple writes versions with underscores (OS X 10_15_7); x86_64 keeps its own.
  return os ? `${name} on ${/OS/.test(os) ? os.replace(/_/g, '.') : os}` : name;
}

const UNITS: readonly Unit[] = ['ms', 'us', 'MB', 'calls/s'];
/** Bigger files are not a bench report; the limits keep a bad file from hanging the page. */
export const MAX_FILE_BYTES = 5 * 2 ** 20;
const MAX_ROWS = 10_000;

class ReportError extends Error {}

const show = (v: unknown) => {
  const s =
    v === undefined
      ? 'nothing'
      : typeof v === 'string'
        ? JSON.stringify(v)
        : Array.isArray(v)
          ? 'an array'
          : v === null
            ? 'null'
            : typeof v === 'object'
              ? 'an object'
              : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function text(o: Record<string, unknown>, key: string, where: string, optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length > 200)
    throw new ReportError(`${where}.${key} must be a string of at most 200 characters (got ${show(v)})`);
  return v;
}

function number(o: Record<string, unknown>, key: string, where: string, integer = false): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new ReportError(`${where}.${key} must be a ${integer ? 'whole' : 'finite'} number, 0 or more (got ${show(v)})`);
  }
  return v;
}

function params(v: unknown, where: string): Record<string, number | number[]> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new ReportError(`${where}.params must be an object of numbers (got ${show(v)})`);
  // No prototype: a key named __proto__ in the file stays an ordinary key.
  const out: Record<string, number | number[]> = Object.create(null);
  for (const [k, x] of Object.entries(v)) {
    const ok =
      typeof x === 'number'
        ? Number.isFinite(x)
        : Array.isArray(x) && x.length <= 100 && x.every((n) => typeof n === 'number' && Number.isFinite(n));
    if (!ok || k.length > 60)
      throw new ReportError(`${where}.params.${k.slice(0, 60)} must be a number or a list of numbers (got ${show(x)})`);
    out[k] = Array.isArray(x) ? [...(x as number[])] : (x as number);
  }
  return out;
}

/**
 * Checks a report's JSON text and returns a clean copy holding only the known fields;
 * throws an Error whose message names the first thing wrong (`results[3].median must be ...`).
 */
export function parseReport(json: string): BenchReport {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (e) {
    throw new ReportError(`it is not JSON (${(e as Error).message})`);
  }
  if (!isObject(data)) throw new ReportError(`a bench report is a JSON object with "machine" and "results" (got ${show(data)})`);
  const m = data.machine;
  if (!isObject(m))
    throw new ReportError(
      `"machine" must be an object with cpus, node, platform and when (got ${show(m)}); is this a file from npm run bench -- --json FILE?`,
    );
  const machine = {
    cpus: number(m, 'cpus', 'machine', true),
    node: text(m, 'node', 'machine', true) ?? '',
    platform: text(m, 'platform', 'machine')!,
    when: text(m, 'when', 'machine')!,
  };
  const rows = data.results;
  if (!Array.isArray(rows))
    throw new ReportError(`"results" must be a list of rows (got ${show(rows)}); is this a file from npm run bench -- --json FILE?`);
  if (rows.length > MAX_ROWS)
    throw new ReportError(`"results" has ${rows.length} rows; a bench report has far fewer (at most ${MAX_ROWS})`);
  const results = rows.map((r, i): BenchResult => {
    const where = `results[${i}]`;
    if (!isObject(r)) throw new ReportError(`${where} must be an object (got ${show(r)})`);
    const unit = r.unit;
    if (!UNITS.includes(unit as Unit)) throw new ReportError(`${where}.unit must be one of ${UNITS.join(', ')} (got ${show(unit)})`);
    const row: BenchResult = {
      workload: text(r, 'workload', where)!,
      target: text(r, 'target', where)!,
      median: number(r, 'median', where),
      p95: number(r, 'p95', where),
      unit: unit as Unit,
      samples: number(r, 'samples', where, true),
    };
    // Optional: reports from before mean and p99 were kept have neither.
    for (const k of ['mean', 'p99'] as const) if (r[k] !== undefined) row[k] = number(r, k, where);
    const baseline = text(r, 'baseline', where, true);
    if (baseline !== undefined) row.baseline = baseline;
    const p = params(r.params, where);
    if (p) row.params = p;
    return row;
  });
  const skipped: Skipped[] = Array.isArray(data.skipped)
    ? data.skipped
        .filter(isObject)
        .slice(0, MAX_ROWS)
        .map((s) => ({
          workload: String(s.workload).slice(0, 200),
          target: String(s.target).slice(0, 200),
          reason: String(s.reason).slice(0, 500),
        }))
    : [];
  return { machine, quick: data.quick === true, results, skipped };
}

/**
 * Which variant of a workload a row is: rows match across reports by workload, target and
 * this. Node's snapshot from disk and the browser's from Cache Storage are the same case:
 * the first Python engine of a new process (page) reads the snapshot its store keeps.
 */
export function variant(r: BenchResult): string {
  const p = r.params ?? {};
  if (p.snapshot === 0) return 'no snapshot';
  if (p.snapshotFromDisk === 1 || p.snapshotFromCache === 1) return 'snapshot from store';
  if (p.spareWorker === 0) return 'snapshot in memory';
  if (p.resetFresh === 1) return 'reset fresh';
  if (typeof p.engines === 'number') return `${p.engines} engine${p.engines === 1 ? '' : 's'}`;
  const rest = Object.entries(p).map(([k, v]) => `${k}=${String(v)}`);
  if (rest.length) return rest.join(', ');
  // Node's default Python row restores from memory into the worker it keeps started ahead.
  return r.workload === 'cold-start' && /^python\/wasm\//.test(r.target) ? 'snapshot in memory, pre-started worker' : '';
}

/** What the variant means, per side, where the two differ. */
export function variantNote(v: string, side: 'browser' | 'node'): string {
  if (v === 'snapshot from store') return side === 'browser' ? 'Cache Storage, read by a new realm' : 'disk cache, read by a new process';
  return '';
}

export interface Paired {
  key: string;
  workload: string;
  target: string;
  variant: string;
  unit: Unit;
  browser?: BenchResult;
  node?: BenchResult;
}

/** Browser and Node rows side by side, matched by workload, target and variant; browser order first. */
export function pair(browser: BenchResult[], node: BenchResult[]): Paired[] {
  const out = new Map<string, Paired>();
  const add = (r: BenchResult, side: 'browser' | 'node') => {
    const v = variant(r);
    const key = `${r.workload}\u0000${r.target}\u0000${v}\u0000${r.unit}`;
    const p = out.get(key) ?? { key, workload: r.workload, target: r.target, variant: v, unit: r.unit };
    p[side] ??= r;
    out.set(key, p);
  };
  for (const r of browser) add(r, 'browser');
  for (const r of node) add(r, 'node');
  return [...out.values()];
}

/** Numbers as the CLI table prints them (src/bench/report.ts). */
export function num(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

export const unitLabel = (u: Unit) => (u === 'us' ? 'µs' : u);
