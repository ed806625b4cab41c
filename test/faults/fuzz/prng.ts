/**
 * A seeded PRNG for the fuzz suites (mulberry32: 32-bit state, fast, good enough to pick cases, not for
 * cryptography). The seed comes from FAULTS_SEED when set, so a failing run replays; otherwise from the clock.
 * Suites print it first.
 */
export interface Prng {
  readonly seed: number
  /** Uniform in [0, 1). */
  next(): number
  /** An integer in [min, max]. */
  int(min: number, max: number): number
  pick<T>(items: readonly T[]): T
  bytes(length: number): Buffer
  chance(probability: number): boolean
}

export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.FAULTS_SEED
  if (given === undefined || given === '') return (Date.now() ^ (process.pid << 16)) >>> 0
  const seed = Number(given)
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`FAULTS_SEED must be a non-negative integer, got ${given}`)
  return seed >>> 0
}

/** How many records or requests a fuzz suite sends: `variable` when set, else the CI default. */
export function fuzzCount(variable: string, ciDefault: number, env: NodeJS.ProcessEnv = process.env): number {
  const given = env[variable]
  if (given === undefined || given === '') return ciDefault
  const count = Number(given)
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`${variable} must be a positive integer, got ${given}`)
  return count
}

export function createPrng(seed: number): Prng {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))
  return {
    seed,
    next,
    int,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list')
      return items[int(0, items.length - 1)] as T
    },
    bytes: (length) => {
      const out = Buffer.allocUnsafe(length)
      for (let i = 0; i < length; i++) out[i] = int(0, 255)
      return out
    },
    chance: (probability) => next() < probability,
  }
}
