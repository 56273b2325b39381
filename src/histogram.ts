/**
 * A small fixed-bucket histogram of durations, for pool statistics: cheap to record (one
 * array slot per sample), and percentiles good to a bucket's width.
 */

/** Bucket upper bounds in milliseconds; the last bucket takes everything above. */
const BOUNDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000];

export interface HistogramSnapshot {
  count: number;
  /** Upper bound of the bucket holding the median / 95th / 99th percentile, in ms. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** `le`: the bucket's upper bound in ms (Infinity for the last). */
  buckets: { le: number; count: number }[];
}

export class Histogram {
  private readonly counts = new Array<number>(BOUNDS.length + 1).fill(0);
  private n = 0;
  private sum = 0;
  private largest = 0;

  record(ms: number): void {
    let i = 0;
    while (i < BOUNDS.length && ms > BOUNDS[i]!) i++;
    this.counts[i]!++;
    this.n++;
    this.sum += ms;
    if (ms > this.largest) this.largest = ms;
  }

  private percentile(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.ceil(p * this.n);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i < BOUNDS.length ? Math.min(BOUNDS[i]!, this.largest) : this.largest;
    }
    return this.largest;
  }

  snapshot(): HistogramSnapshot {
    return {
      count: this.n,
      p50: this.percentile(0.5),
      p95: this.percentile(0.95),
      p99: this.percentile(0.99),
      max: this.largest,
      mean: this.n ? this.sum / this.n : 0,
      buckets: this.counts.map((count, i) => ({ le: i < BOUNDS.length ? BOUNDS[i]! : Infinity, count })),
    };
  }
}
