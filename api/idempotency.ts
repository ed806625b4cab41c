/**
 * Remembers the first answer to a create, by `Idempotency-Key` header or client-supplied taskId, so a repeat (a
 * client retrying after a timeout) gets that answer again instead of a second write. A repeat with a different
 * body is a conflict (409). In memory, per API process, bounded (oldest out) and expiring after `ttlMs`; across
 * processes and restarts the read model answers for taskIds (a task that exists with the same definition is the
 * first answer).
 */
import { createHash } from 'node:crypto'

export interface StoredAnswer {
  fingerprint: string
  statusCode: number
  body: unknown
  storedAtMs: number
}

export class IdempotencyCache {
  readonly #entries = new Map<string, StoredAnswer>()
  readonly #maxEntries: number
  readonly #ttlMs: number

  constructor(options: { maxEntries?: number; ttlMs?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000
    this.#ttlMs = options.ttlMs ?? 86_400_000
  }

  get(key: string, nowMs: number): StoredAnswer | undefined {
    const hit = this.#entries.get(key)
    if (hit === undefined) return undefined
    if (nowMs - hit.storedAtMs > this.#ttlMs) {
      this.#entries.delete(key)
      return undefined
    }
    return hit
  }

  set(key: string, answer: StoredAnswer): void {
    this.#entries.delete(key)
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!)
    this.#entries.set(key, answer)
  }
}

/** A stable digest of a JSON value (object keys sorted). */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('hex')
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}
