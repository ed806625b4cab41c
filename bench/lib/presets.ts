/**
 * What `npm run bench` measures, as data: the scenarios, the two presets (full: the sizes; quick:
 * smaller sizes that finish in a few minutes) and the targets the report checks figures against.
 */

export const Scenarios = {
  a: 'lateness at a steady rate with many definitions pending',
  b: 'a herd of one-shots due in one second',
  c: 'ingest: definitions per second',
  d: 'cold restore (state directory deleted)',
  e: 'resident memory with N pending',
  f: 'due → worker start at a steady rate',
  isolation: 'a herd on one partition while crons fire on the others',
} as const
export type Scenario = keyof typeof Scenarios
export const scenarioIds = Object.keys(Scenarios) as Scenario[]

export const Systems = { flextask: 'flextask', bullmq: 'BullMQ', pgBoss: 'pg-boss' } as const
export type System = (typeof Systems)[keyof typeof Systems]
export const peerNames: System[] = [Systems.bullmq, Systems.pgBoss]

export interface Preset {
  name: 'full' | 'quick'
  steadyRate: number
  steadySeconds: number
  steadyPending: number
  herd: number
  /** Pending counts for c, d and e (one state run each). */
  statePending: number[]
  workerRate: number
  workerSeconds: number
  /** Isolation: one-shots due within one second on partition 0, crons every second on the others. */
  isolationHerd: number
  isolationCrons: number
  isolationQuietMs: number
}

export const presets: Record<Preset['name'], Preset> = {
  full: {
    name: 'full',
    steadyRate: 2_000,
    steadySeconds: 30,
    steadyPending: 1_000_000,
    herd: 100_000,
    statePending: [1_000_000, 10_000_000],
    workerRate: 1_000,
    workerSeconds: 30,
    isolationHerd: 100_000,
    isolationCrons: 200,
    isolationQuietMs: 10_000,
  },
  quick: {
    name: 'quick',
    steadyRate: 2_000,
    steadySeconds: 10,
    steadyPending: 100_000,
    herd: 20_000,
    statePending: [100_000],
    workerRate: 1_000,
    workerSeconds: 10,
    isolationHerd: 20_000,
    isolationCrons: 200,
    isolationQuietMs: 5_000,
  },
}

/** The targets (2-core box, broker on the box, exactly-once on). */
export const Targets = {
  steadyFireP99Ms: 50,
  steadyFireMaxMs: 250,
  /** 100k due in one second all emitted within 2 s of the window start. */
  herdRatePerS: 50_000,
  herdAllEmittedMs: 2_000,
  ingestPerS: 50_000,
  restoreOneMillionMs: 30_000,
  rssTenMillionBytes: 2 ** 30,
} as const
