/**
 * SVG plots for the benchmark report, written by hand (no plotting dependency): the empirical CDF of lateness
 * samples, one line per system, on a log-scaled millisecond axis (lateness spans 1 ms to seconds, and the peers
 * differ by orders of magnitude). The output is a standalone SVG document with its own axis labels and legend.
 */
import { sortedCopy } from './stats.ts'

export interface CdfSeries {
  label: string
  /** Samples in ms; values below the axis minimum are drawn at the minimum. */
  values: ArrayLike<number>
}

export interface CdfPlot {
  title: string
  xLabel: string
  series: CdfSeries[]
}

const WIDTH = 720
const PLOT_HEIGHT = 420
const LEGEND_ROW = 18
const MARGIN = { left: 64, right: 24, top: 44, bottom: 56 }
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']
/** Points per line at most; a CDF of 1M samples is drawn from this many quantiles. */
const MAX_POINTS = 400

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

/** Decades 10^lo … 10^hi covering every positive sample, at least 1 ms … 10 ms. */
function decades(series: readonly CdfSeries[]): { lo: number; hi: number } {
  let max = 1
  for (const s of series) for (let i = 0; i < s.values.length; i++) max = Math.max(max, s.values[i] ?? 0)
  return { lo: 0, hi: Math.max(1, Math.ceil(Math.log10(max))) }
}

/** (x ms, cumulative fraction) points of one series' empirical CDF, thinned to MAX_POINTS quantiles. */
export function cdfPoints(values: ArrayLike<number>): [number, number][] {
  const sorted = sortedCopy(values)
  const n = sorted.length
  if (n === 0) return []
  const steps = Math.min(n, MAX_POINTS)
  const points: [number, number][] = []
  for (let k = 1; k <= steps; k++) {
    const rank = Math.ceil((k * n) / steps)
    points.push([sorted[rank - 1] ?? NaN, rank / n])
  }
  return points
}

/** The CDF plot as an SVG document. */
export function cdfSvg(plot: CdfPlot): string {
  const { lo, hi } = decades(plot.series)
  // The legend sits below the axis label, one row per series, so it never hides a line.
  const height = PLOT_HEIGHT + 8 + plot.series.length * LEGEND_ROW
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const plotH = PLOT_HEIGHT - MARGIN.top - MARGIN.bottom
  const x = (ms: number): number => MARGIN.left + ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * plotW
  const y = (fraction: number): number => MARGIN.top + (1 - fraction) * plotH
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(plot.title)}</text>`,
  ]
  for (let d = lo; d <= hi; d++) {
    const px = x(10 ** d).toFixed(1)
    out.push(`<line x1="${px}" y1="${MARGIN.top}" x2="${px}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`)
    const label = 10 ** d >= 1000 ? `${10 ** (d - 3)} s` : `${10 ** d} ms`
    out.push(`<text x="${px}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${label}</text>`)
  }
  for (const f of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    const py = y(f).toFixed(1)
    out.push(`<line x1="${MARGIN.left}" y1="${py}" x2="${MARGIN.left + plotW}" y2="${py}" stroke="#eee"/>`)
    out.push(`<text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${f}</text>`)
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${PLOT_HEIGHT - 14}" text-anchor="middle">${escapeXml(plot.xLabel)} (log scale)</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">fraction of jobs at or below</text>`,
  )
  plot.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000'
    const points = cdfPoints(s.values)
    if (points.length > 0) {
      // A step line: right to the next sample, then up by its share.
      let d = `M${x(points[0]?.[0] ?? 0).toFixed(1)},${y(0).toFixed(1)}`
      for (const [ms, f] of points) d += ` H${x(ms).toFixed(1)} V${y(f).toFixed(1)}`
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`)
    }
    const ly = PLOT_HEIGHT + 4 + i * LEGEND_ROW
    const lx = MARGIN.left
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${escapeXml(`${s.label} (n = ${s.values.length.toLocaleString('en-US')})`)}</text>`,
    )
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
