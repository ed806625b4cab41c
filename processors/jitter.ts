/**
 * Deterministic jitter and retry backoff. Nothing here is random: every value is a pure function of strings
 * the log already holds (the execution id, the attempt number), so replaying the log after a crash or a
 * rebalance computes the same due times and fires the same timers (anchors-kafka §3 items 3 and 13).
 *
 * Hashing: 32-bit FNV-1a over the UTF-8 bytes of the seed (http://www.isthe.com/chongo/tech/comp/fnv/),
 * followed by MurmurHash3's `fmix32` finalizer. FNV-1a alone spreads similar ids (`exec-1`, `exec-2`) poorly
 * in the high bits; the finalizer gives full avalanche, so `hash / 2^32` is close to uniform on [0, 1).
 *
 * Backoff: delay = min(backoffBaseMs × backoffFactor^(failedAttempt − 1), backoffMaxMs), then ± jitterRatio of
 * that delay ("equal spread" jitter around the capped value). A capped delay can therefore exceed
 * backoffMaxMs by up to jitterRatio × backoffMaxMs; it is never negative and always a whole millisecond.
 */
import { ErrorCodes, FlextaskError } from '../errors.ts'

export interface RetryPolicy {
  /** Delay before the first retry, in ms, before jitter. */
  readonly backoffBaseMs: number
  /** Multiplier per further failed attempt (1 = constant delay). */
  readonly backoffFactor: number
  /** Cap on the delay before jitter, in ms. */
  readonly backoffMaxMs: number
  /** Spread of the jitter as a fraction of the delay, in [0, 1]: 0.2 means ±20 %. */
  readonly jitterRatio: number
}

const fnvOffsetBasis = 0x811c9dc5
const fnvPrime = 0x01000193
const encoder = new TextEncoder()

/** A 32-bit unsigned hash of `seed` (FNV-1a, then fmix32). */
function hash32(seed: string): number {
  let h = fnvOffsetBasis
  for (const byte of encoder.encode(seed)) h = Math.imul(h ^ byte, fnvPrime)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A number in [0, 1) that depends only on `seed`. */
function unitInterval(seed: string): number {
  return hash32(seed) / 0x1_0000_0000
}

function invalid(message: string): FlextaskError {
  return new FlextaskError(ErrorCodes.config, message)
}

/** A whole number of ms in [0, jitterMs], uniform over executions and fixed for one execution id. */
export function jitterOffsetMs(executionId: string, jitterMs: number): number {
  if (!Number.isFinite(jitterMs) || jitterMs < 0)
    throw invalid(`jitterMs must be a non-negative number, got ${jitterMs}`)
  return Math.floor(unitInterval(`jitter:${executionId}`) * (Math.floor(jitterMs) + 1))
}

/** The delay in ms before retrying after `failedAttempt` (1 = the first attempt failed), fixed per (execution, attempt). */
export function retryDelayMs(policy: RetryPolicy, failedAttempt: number, executionId: string): number {
  const { backoffBaseMs, backoffFactor, backoffMaxMs, jitterRatio } = policy
  if (!Number.isSafeInteger(failedAttempt) || failedAttempt < 1) {
    throw invalid(`failedAttempt must be an integer >= 1, got ${failedAttempt}`)
  }
  if (!(backoffBaseMs >= 0) || !(backoffMaxMs >= 0) || !Number.isFinite(backoffMaxMs)) {
    throw invalid(`backoffBaseMs and backoffMaxMs must be non-negative finite numbers`)
  }
  if (!(backoffFactor >= 1)) throw invalid(`backoffFactor must be >= 1, got ${backoffFactor}`)
  if (!(jitterRatio >= 0 && jitterRatio <= 1)) throw invalid(`jitterRatio must be in [0, 1], got ${jitterRatio}`)

  const growth = backoffFactor ** (failedAttempt - 1)
  // Once growth overflows to Infinity the cap applies; checking first avoids 0 × Infinity = NaN.
  const uncapped = Number.isFinite(growth) ? backoffBaseMs * growth : backoffBaseMs === 0 ? 0 : Infinity
  const cappedMs = Math.min(uncapped, backoffMaxMs)
  const spread = 2 * unitInterval(`retry:${executionId}:${failedAttempt}`) - 1 // in [-1, 1)
  return Math.max(0, Math.round(cappedMs * (1 + jitterRatio * spread)))
}
