/**
 * The comparison charts: one per unit (ms and µs never share an axis), horizontal grouped
 * bars (long row names stay readable on a phone), Browser beside Node, log scale where the
 * values span more than an order of magnitude.
 */
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LogarithmicScale, Title, Tooltip } from 'chart.js';
import type { Unit } from '../../src/bench/types.js';
import { num, unitLabel, type Paired } from './report.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, Legend, Title, Tooltip);

export const SERIES = { browser: { label: 'Browser', color: '#2f6fed' }, node: { label: 'Node', color: '#e07b1a' } } as const;

/** What a drawn chart shows, for tests (window.__benchCharts). */
export interface ChartSummary {
  unit: Unit;
  log: boolean;
  labels: string[];
  datasets: { label: string; data: (number | null)[] }[];
}

const titles: Partial<Record<Unit, string>> = {
  ms: 'Start and compute (ms, lower is better)',
  us: 'Round trips (µs per call, lower is better)',
};

/** Two lines where there is a variant: long names would squeeze the bars on a phone. */
function rowLabel(p: Paired): string[] {
  const lang = p.target.split('/')[0];
  const who = p.target.startsWith('baseline/') ? p.target.slice('baseline/'.length) : lang;
  return [`${p.workload} ${who}`, ...(p.variant ? p.variant.split(', ') : [])];
}

/** Redraws every chart into `host` (one canvas per unit); returns what was drawn. */
export class Charts {
  private charts: Chart[] = [];

  constructor(private readonly host: HTMLElement) {}

  draw(rows: Paired[]): ChartSummary[] {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    this.host.replaceChildren();
    const units = [...new Set(rows.map((r) => r.unit))];
    return units.map((unit) =>
      this.one(
        unit,
        rows.filter((r) => r.unit === unit),
      ),
    );
  }

  private one(unit: Unit, rows: Paired[]): ChartSummary {
    const values = rows.flatMap((r) => [r.browser?.median, r.node?.median]).filter((v): v is number => typeof v === 'number' && v > 0);
    const log = values.length > 1 && Math.max(...values) / Math.min(...values) >= 10;
    const summary: ChartSummary = {
      unit,
      log,
      labels: rows.map((r) => rowLabel(r).join(', ')),
      datasets: (['browser', 'node'] as const).map((side) => ({
        label: SERIES[side].label,
        // A log axis cannot show 0; a missing row is a gap, not a zero.
        data: rows.map((r) => (r[side] && r[side].median > 0 ? r[side].median : null)),
      })),
    };
    const box = document.createElement('figure');
    box.className = 'chart';
    // Height follows the bar count; width follows the container (Chart.js resizes with it).
    box.style.height = `${Math.max(180, 70 + rows.length * 46)}px`;
    const canvas = document.createElement('canvas');
    canvas.dataset.unit = unit;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `${titles[unit] ?? unit}: Browser and Node medians`);
    box.append(canvas);
    this.host.append(box);
    this.charts.push(
      new Chart(canvas, {
        type: 'bar',
        data: {
          labels: rows.map(rowLabel),
          datasets: summary.datasets.map((d, i) => {
            const s = i === 0 ? SERIES.browser : SERIES.node;
            return { label: d.label, data: d.data, backgroundColor: s.color, borderRadius: 3, categoryPercentage: 0.8, barPercentage: 0.9 };
          }),
        },
        options: {
          indexAxis: 'y',
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          plugins: {
            title: { display: true, text: `${titles[unit] ?? unit}${log ? ', log scale' : ''}` },
            legend: { position: 'bottom' },
            tooltip: {
              callbacks: { label: (c) => `${c.dataset.label}: ${c.parsed.x === null ? '—' : num(c.parsed.x)} ${unitLabel(unit)}` },
            },
          },
          scales: {
            x: {
              type: log ? 'logarithmic' : 'linear',
              title: { display: true, text: unitLabel(unit) },
              ticks: {
                maxRotation: 0,
                // On a log axis only 1, 2, 5 x 10^n get a label (only 10^n on a narrow chart), so labels do not collide.
                callback(v) {
                  return log && !isRound(Number(v), this.width < 500 ? [1] : [1, 2, 5]) ? '' : tick(Number(v));
                },
              },
            },
            y: { ticks: { autoSkip: false, font: { size: 11 } } },
          },
        },
      }),
    );
    return summary;
  }
}

const tick = (v: number) => (Number.isInteger(v) ? v.toLocaleString('en-US') : num(v));

/** Whether v is d x 10^n for one of `leads`. */
function isRound(v: number, leads: number[]): boolean {
  if (v <= 0) return false;
  const lead = v / 10 ** Math.floor(Math.log10(v) + 1e-9);
  return leads.some((d) => Math.abs(lead - d) < 1e-6);
}
