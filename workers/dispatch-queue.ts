/**
 * The executions a worker process has fetched and not started, in start order: higher `priority` first, then
 * earlier `dueAtMs`, then fetch order. This is where priorities act (see README, Priorities): among what this
 * process has fetched, never across processes, and a record not fetched yet cannot overtake anything.
 */
export interface Queued {
  priority: number
  dueAtMs: number
  seq: number
}

function before(a: Queued, b: Queued): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority
  if (a.dueAtMs !== b.dueAtMs) return a.dueAtMs < b.dueAtMs
  return a.seq < b.seq
}

export class DispatchQueue<T extends Queued> {
  readonly #items: T[] = []

  get size(): number {
    return this.#items.length
  }

  push(item: T): void {
    let lo = 0
    let hi = this.#items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (before(this.#items[mid] as T, item)) lo = mid + 1
      else hi = mid
    }
    this.#items.splice(lo, 0, item)
  }

  /** Items in start order (the live array: do not modify while iterating; use removeAll after). */
  view(): readonly T[] {
    return this.#items
  }

  /** Removes every item of `items` in one pass. */
  removeAll(items: ReadonlySet<T>): void {
    if (items.size === 0) return
    let w = 0
    for (const item of this.#items) if (!items.has(item)) this.#items[w++] = item
    this.#items.length = w
  }

  remove(item: T): void {
    const i = this.#items.indexOf(item)
    if (i >= 0) this.#items.splice(i, 1)
  }

  removeWhere(predicate: (item: T) => boolean): T[] {
    const removed: T[] = []
    for (let i = this.#items.length - 1; i >= 0; i--) {
      const item = this.#items[i] as T
      if (predicate(item)) {
        removed.push(item)
        this.#items.splice(i, 1)
      }
    }
    return removed
  }
}
