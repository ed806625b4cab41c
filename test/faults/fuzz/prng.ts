/**
 * The fuzz suites' seeded PRNG: the fault suite's (seeded-random.ts, mulberry32) with bytes and chance added. The
 * seed comes from FAULTS_SEED when set, so a failing run replays; otherwise a fresh one. Suites print it first.
 */
import { type SeededRandom, seededRandom, seedFromEnv } from '../seeded-random.ts'

export interface Prng extends Omit<SeededRandom, 'shuffle'> {
  bytes(length: number): Buffer
  chance(probability: number): boolean
}

/** FAULTS_SEED when set (a replay), else a fresh one: the fault suite's rule. */
export const fuzzSeed = seedFromEnv

/** How many records or requests a fuzz suite sends: `variable` when set, else the CI default. */
export function fuzzCount(variable: string, ciDefault: number, env: NodeJS.ProcessEnv = process.env): number {
  const given = env[variable]
  if (given === undefined || given === '') return ciDefault
  const count = Number(given)
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`${variable} must be a positive integer, got ${given}`)
  return count
}

/** The fault suite's seeded generator (the same sequence for a seed), plus bytes and chance. */
export function createPrng(seed: number): Prng {
  const random = seededRandom(seed)
  return {
    ...random,
    bytes: (length) => {
      const out = Buffer.allocUnsafe(length)
      for (let i = 0; i < length; i++) out[i] = random.int(0, 255)
      return out
    },
    chance: (probability) => random.next() < probability,
  }
}
