/**
 * Cleanup of what a helper opens (servers, child processes, Kafka clients, databases), wherever the helper is
 * called: at the top of a test file, in a `beforeAll` or inside a test.
 *
 * Why not `afterAll` in the helper: Vitest only honours hooks registered while it collects a file. An `afterAll`
 * registered once the file runs (from a `beforeAll` or a test body) is dropped without a word, so a helper called
 * there never cleaned up — the stand-in servers, the SMTP child and the workers' Kafka clients it left open kept
 * the fork worker, and so `vitest run`, alive after the report ("Timeout terminating forks worker").
 * This module registers one `afterAll` when a test file imports it (collection time, so it counts) and runs every
 * cleanup there, the last registered first; a failing cleanup does not stop the others and fails the file.
 */
import { afterAll } from 'vitest'

type Cleanup = () => unknown

const cleanups: Cleanup[] = []

/** Runs `fn` when the current test file ends, after the file's own `afterAll` hooks. */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn)
}

afterAll(async () => {
  const errors: unknown[] = []
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!
    try {
      await fn()
    } catch (error) {
      errors.push(error)
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, `${errors.length} cleanup(s) failed`)
})
