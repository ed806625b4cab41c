/**
 * Compiled cron patterns, shared by the calculator and the schedule validation: a pattern is parsed once into a
 * matcher on a fixed UTC+0 clock (schedule-calculator.ts explains why), with croner's fixed-time rule. Plus the
 * bounded LRU memo both use. Memoisation only: no output depends on what is cached.
 */
import { Cron, CronPattern } from 'croner'

const maxCachedEntries = 1024

/** A pattern compiled once: the wall-clock matcher and whether it is fixed-time (rule b). */
export interface CompiledCron {
  readonly matcher: Cron
  readonly fixedTime: boolean
}

const crons = new Map<string, CompiledCron>()

/** A bounded memo, least-recently-used first out. */
export function cached<V>(cache: Map<string, V>, key: string, create: () => V): V {
  const hit = cache.get(key)
  if (hit !== undefined) {
    cache.delete(key)
    cache.set(key, hit)
    return hit
  }
  const value = create()
  if (cache.size >= maxCachedEntries) cache.delete(cache.keys().next().value!)
  cache.set(key, value)
  return value
}

/**
 * The pattern on a fixed UTC+0 clock: a matcher of wall-time fields that never sees DST. Fixed-time is croner's
 * "single-value" rule: second, minute and hour each one value, no wildcard, step, range or list.
 */
export function compileCron(pattern: string): CompiledCron {
  return cached(crons, pattern, () => ({
    matcher: new Cron(pattern, { utcOffset: 0, mode: '5-or-6-parts' }),
    fixedTime: new CronPattern(pattern, undefined, { mode: '5-or-6-parts', fixedTimeRule: 'single-value' }).isFixedTime,
  }))
}
