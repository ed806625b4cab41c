/**
 * Backoff and interruptible sleeps for the runtime's retry paths (aborted cycles, outages, task opens).
 *
 * Exponential with full-range jitter (±20 %), capped: 100 ms, 200 ms, … up to maxMs. A sleep ends early only
 * when its AbortSignal fires (close()), never because records arrived (review C9).
 */
export interface BackoffOptions {
  /** @default 100 */
  initialMs?: number
  /** @default 5000 */
  maxMs?: number
}

export function backoffMs(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 100
  const max = options.maxMs ?? 5000
  const base = Math.min(max, initial * 2 ** Math.max(0, attempt - 1))
  return Math.round(Math.min(max, base * (0.8 + random() * 0.4)))
}

/** Sleeps ms, or less if the signal aborts (then resolves, it does not reject). */
export function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
