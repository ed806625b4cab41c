/**
 * Which offset of each partition may be committed: the one after the lowest contiguous completed record.
 *
 * Records of one partition run concurrently and finish in any order; an offset is committed only when every
 * record before it has finished (its terminal result is on Kafka), so a crash redelivers exactly the records
 * that might not have a result yet, never skips one. Example: offsets 5, 6, 7 tracked, 6 and 7 done → nothing
 * to commit (5 runs); 5 done → commit 8.
 *
 * One tracker per group generation: on a rebalance the runtime drops it (uncommitted records are fetched again
 * from the committed offset) and starts a new one.
 */
export class OffsetTracker {
  /** partition → offsets tracked and not yet committable, ascending, with their done flag. */
  readonly #pending = new Map<number, Map<bigint, boolean>>()
  /** partition → next offset to commit that was not committed yet. */
  readonly #ready = new Map<number, { offset: bigint; leaderEpoch: number }>()
  readonly #epochs = new Map<number, number>()

  /** Registers a fetched record, in fetch order. */
  track(partition: number, offset: bigint, leaderEpoch: number): void {
    let offsets = this.#pending.get(partition)
    if (offsets === undefined) {
      offsets = new Map()
      this.#pending.set(partition, offsets)
    }
    if (!offsets.has(offset)) offsets.set(offset, false)
    this.#epochs.set(partition, leaderEpoch)
  }

  /** Marks a record finished; advances the partition's committable offset over the contiguous done prefix. */
  done(partition: number, offset: bigint): void {
    const offsets = this.#pending.get(partition)
    if (offsets?.has(offset) !== true) return
    offsets.set(offset, true)
    let next: bigint | undefined
    for (const [o, finished] of offsets) {
      if (!finished) break
      offsets.delete(o)
      next = o + 1n
    }
    if (next !== undefined) this.#ready.set(partition, { offset: next, leaderEpoch: this.#epochs.get(partition) ?? -1 })
  }

  /** The offsets to commit now (next offset to read per partition), cleared once taken. */
  takeReady(): { partition: number; offset: bigint; leaderEpoch: number }[] {
    const out = [...this.#ready].map(([partition, r]) => ({ partition, ...r }))
    this.#ready.clear()
    return out
  }

  /** Puts back offsets whose commit failed, unless a later one is ready meanwhile. */
  restore(entries: { partition: number; offset: bigint; leaderEpoch: number }[]): void {
    for (const e of entries) {
      const now = this.#ready.get(e.partition)
      if (now === undefined || now.offset < e.offset) this.#ready.set(e.partition, e)
    }
  }

  /** Records tracked and not yet committable, over all partitions. */
  get pendingCount(): number {
    let n = 0
    for (const offsets of this.#pending.values()) n += offsets.size
    return n
  }
}
