import { describe, expect, it } from 'vitest'
import { presets, Systems } from '../../../bench/lib/presets.ts'
import { markdown, type BenchResults } from '../../../bench/lib/report.ts'
import type { StateRun } from '../../../bench/scenarios/flextask-state.ts'

const memory = {
  rssBytes: 0,
  rssAnonBytes: 0,
  rssFileBytes: 0,
  heapUsedBytes: 0,
  heapTotalBytes: 0,
  externalBytes: 0,
  arrayBuffersBytes: 0,
}

function stateRun(pending: number, ingestPerS: number, restoreMs: number, peakMiB: number): StateRun {
  return {
    pending,
    produceMs: 1,
    recordBytes: 1,
    startupMs: 1,
    ingestMs: 1,
    ingestPerS,
    rssAfterIngestBytes: 0,
    peakRssIngestBytes: peakMiB * 2 ** 20,
    heapAfterIngestBytes: 0,
    heapAfterRestoreBytes: 0,
    memoryAfterIngest: memory,
    memoryAfterRestore: memory,
    peakRssAnonIngestBytes: 0,
    peakRssAnonRestoreBytes: 0,
    restoreMs,
    restoredRecords: 2 * pending,
    rssAfterRestoreBytes: 0,
    peakRssRestoreBytes: 0,
  }
}

function results(state: StateRun[]): BenchResults {
  return {
    preset: presets.quick,
    scenarios: ['c', 'd', 'e'],
    repeat: 3,
    startedAt: '2026-12-01T06:39:00.000Z',
    durationS: 1,
    environment: 'test',
    configs: { [Systems.flextask]: 'f', [Systems.bullmq]: 'b', [Systems.pgBoss]: 'p' },
    peers: [],
    due: [],
    state,
    isolation: [],
  }
}

describe('bench report: targets of the state scenarios', () => {
  it('shows one row per pending count and target, the median over the repeats', () => {
    const md = markdown(
      results([
        stateRun(100_000, 26_048, 3210, 533),
        stateRun(100_000, 27_793, 3097, 445),
        stateRun(100_000, 29_744, 3158, 439),
      ]),
    )
    const ingestRows = md.split('\n').filter((l) => l.startsWith('| (c) ingest'))
    expect(ingestRows).toEqual(['| (c) ingest ≥ 50,000/s | 100,000 pending, median of 3 | 27,793 | no |'])
    expect(md.split('\n').filter((l) => l.startsWith('| (d) cold restore'))).toEqual([
      '| (d) cold restore of 1M ≤ 30 s (ms) | 100,000 pending, median of 3 | 3,158 | no |',
    ])
    expect(md.split('\n').filter((l) => l.startsWith('| (e) RSS'))).toEqual([
      '| (e) RSS at 10M pending ≤ 1 GiB (peak MiB) | 100,000 pending, median of 3 | 445 | no |',
    ])
  })

  it('judges (d) and (e) only at the target size', () => {
    const md = markdown(results([stateRun(1_000_000, 10_000, 29_000, 700), stateRun(10_000_000, 10_000, 224_000, 729)]))
    expect(md).toContain('| (d) cold restore of 1M ≤ 30 s (ms) | 1,000,000 pending | 29,000 | yes |')
    expect(md).toContain('| (e) RSS at 10M pending ≤ 1 GiB (peak MiB) | 10,000,000 pending | 729 | yes |')
    expect(md).toContain('| (e) RSS at 10M pending ≤ 1 GiB (peak MiB) | 1,000,000 pending | 700 | no |')
  })
})
