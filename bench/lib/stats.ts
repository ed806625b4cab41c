/**
 * Statistics for benchmark figures: nearest-rank percentiles, a summary of a latency sample, medians over
 * repeated runs and flextask/peer ratios. Pure functions over numbers (milliseconds unless a name says
 * otherwise); the unit test pins the rank rule, since a percentile off by one rank is a different figure.
 */

export interface Summary {
  count: number
  min: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

/** Ascending copy of `values`, as numbers (a typed array's sort is numeric; an Array's is not by default). */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort()
}

/**
 * Nearest-rank percentile of an ascending sample: the smallest value with at least q·n values at or below it
 * (q in [0, 1]); NaN for an empty sample. p0 is the minimum and p100 the maximum.
 */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile: q must be within [0, 1], got ${q}`)
  const n = sorted.length
  if (n === 0) return NaN
  const rank = Math.max(1, Math.ceil(q * n))
  return sorted[rank - 1] ?? NaN
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = sortedCopy(values)
  let sum = 0
  for (const v of sorted) sum += v
  return {
    count: sorted.length,
    min: percentile(sorted, 0),
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: percentile(sorted, 1),
    mean: sorted.length === 0 ? NaN : sum / sorted.length,
  }
}

/** Median of repeated runs' figures; the mean of the middle two for an even count; NaN when none is finite. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v))
  if (finite.length === 0) return NaN
  const sorted = sortedCopy(finite)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2
}

/** The field-wise median of several summaries (each field's median over the runs, not one run's summary). */
export function medianSummary(runs: readonly Summary[]): Summary {
  const field = (f: keyof Summary): number => median(runs.map((r) => r[f]))
  return {
    count: field('count'),
    min: field('min'),
    p50: field('p50'),
    p90: field('p90'),
    p99: field('p99'),
    max: field('max'),
    mean: field('mean'),
  }
}

/**
 * flextask / peer for a "lower is better" figure such as lateness: < 1 means flextask is better. Values at or
 * below `floor` are raised to it first, so a 0 ms lateness gives a finite ratio (the floor is the resolution of
 * the millisecond stamps). NaN when either side is missing.
 */
export function ratio(flextask: number, peer: number, floor = 1): number {
  if (!Number.isFinite(flextask) || !Number.isFinite(peer)) return NaN
  return Math.max(flextask, floor) / Math.max(peer, floor)
}

/** A ratio for a table: `0.42×`, `12×`, or `n/a`. */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return 'n/a'
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2)}×`
}

/** A figure for a table: integers with thousands separators, `n/a` when missing. */
export function formatNumber(v: number): string {
  return Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a'
}
