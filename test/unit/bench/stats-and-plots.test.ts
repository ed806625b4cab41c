import { describe, expect, it } from 'vitest'
import { DueRecorder } from '../../../bench/lib/due-workload.ts'
import { formatRatio, median, medianSummary, percentile, ratio, summarize } from '../../../bench/lib/stats.ts'
import { cdfPoints, cdfSvg } from '../../../bench/lib/svg.ts'
import { integerArg, integerListArg } from '../../../bench/lib/args.ts'

describe('benchmark statistics', () => {
  it('takes nearest-rank percentiles: p50 of 1..10 is 5, p99 of 1..100 is 99, p0 and p100 are the extremes', () => {
    const ten = Array.from({ length: 10 }, (_, i) => i + 1)
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(ten, 0.5)).toBe(5)
    expect(percentile(ten, 0.9)).toBe(9)
    expect(percentile(hundred, 0.99)).toBe(99)
    expect(percentile(hundred, 0)).toBe(1)
    expect(percentile(hundred, 1)).toBe(100)
    expect(percentile([], 0.5)).toBeNaN()
    expect(() => percentile(ten, 1.5)).toThrow(/within \[0, 1\]/)
  })

  it('sorts numerically before summarizing (9 < 10, not as text)', () => {
    const s = summarize([10, 9, 100, 1, 2])
    expect(s).toMatchObject({ count: 5, min: 1, p50: 9, max: 100, mean: 24.4 })
  })

  it('takes the median of repeats, averaging the middle two and ignoring failed (NaN) runs', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([5, NaN, 7])).toBe(6)
    expect(median([])).toBeNaN()
    const m = medianSummary([summarize([1, 2, 3]), summarize([10, 20, 30]), summarize([4, 5, 6])])
    expect(m.p50).toBe(5)
    expect(m.max).toBe(6)
  })

  it('gives flextask/peer ratios with a 1 ms floor, so a 0 ms lateness stays finite', () => {
    expect(ratio(50, 200)).toBe(0.25)
    expect(ratio(0, 4)).toBe(0.25)
    expect(ratio(300, 0)).toBe(300)
    expect(ratio(NaN, 3)).toBeNaN()
    expect(formatRatio(0.25)).toBe('0.25×')
    expect(formatRatio(2.345)).toBe('2.3×')
    expect(formatRatio(123.4)).toBe('123×')
    expect(formatRatio(NaN)).toBe('n/a')
  })

  it('parses integer flags with underscores and names the flag when one is wrong', () => {
    expect(integerArg('pending', '1_000_000', 1)).toBe(1_000_000)
    expect(integerListArg('state-pending', '100000, 1000000', 1)).toEqual([100_000, 1_000_000])
    expect(() => integerArg('repeat', '0', 1)).toThrow('--repeat must be an integer >= 1, got "0"')
    expect(() => integerArg('herd', '1e3x', 1)).toThrow(/--herd/)
    expect(() => integerArg('herd', '', 1)).toThrow(/--herd/)
  })
})

describe('due recorder', () => {
  it('records each job once, counts duplicates and refuses jobs that were not loaded', () => {
    const r = new DueRecorder(3)
    r.record(0, 1_000, 1_010, 1_004)
    r.record(2, 1_500, 1_530, 1_520)
    r.record(0, 1_000, 1_090)
    r.record(7, 1_000, 1_010)
    expect(r.lateness).toEqual([10, 30])
    expect(r.fireLateness).toEqual([4, 20])
    expect(r.duplicates).toBe(1)
    expect(r.unexpected).toBe(1)
    expect(r.complete).toBe(false)
    expect([r.firstMs, r.lastMs, r.lastFireMs]).toEqual([1_010, 1_530, 1_520])
  })
})

describe('CDF plot', () => {
  it('draws the empirical CDF: fractions rise to 1 at the largest sample', () => {
    expect(cdfPoints([30, 10, 20, 40])).toEqual([
      [10, 0.25],
      [20, 0.5],
      [30, 0.75],
      [40, 1],
    ])
    const many = cdfPoints(Array.from({ length: 10_000 }, (_, i) => i))
    expect(many.length).toBe(400)
    expect(many.at(-1)).toEqual([9_999, 1])
  })

  it('writes a standalone SVG with one line and one legend entry per system, text escaped', () => {
    const svg = cdfSvg({
      title: 'lateness <a> & b',
      xLabel: 'ms',
      series: [
        { label: 'flextask', values: [1, 5, 12] },
        { label: 'BullMQ', values: [3, 800, 2_500] },
      ],
    })
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
    expect(svg.match(/<path /g)).toHaveLength(2)
    expect(svg).toContain('lateness &lt;a&gt; &amp; b')
    expect(svg).toContain('flextask (n = 3)')
    // 2,500 ms needs the axis to reach 10 s (decades 1 ms … 10 s).
    expect(svg).toContain('>10 s<')
  })
})
