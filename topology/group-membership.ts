/**
 * This process's membership of the consumer group, as the loop sees it (≈ Kafka Streams'
 * StreamsRebalanceListener): the client's callbacks only record what happened and wake the loop; the loop
 * takes the latest join at one fixed point of a pass (review §2.2 rule 1, C2).
 *
 * Owner of: the queued join, the "rebalance in progress" flag, the stream error reported by the client and
 * the "rejoin needed" flag (after a failed rejoin the client stops heartbeating and never joins again by
 * itself, so the loop calls joinGroup).
 *
 * Which partitions a join lets a task keep (issue 7, C11 follow-up). A task may carry over from generation G
 * to a later join only if this member held its partition in EVERY generation in between: a generation this
 * member did not see (its session expired while it was frozen, a join round it missed) may have given the
 * partition to another member, which then advanced its changelog and committed offsets, so the local task's
 * state is stale. Every member that stays in the group takes part in every generation, and the client reports
 * each one it joins, so `heldSince` records, per partition, the first generation of the unbroken run of
 * consecutive generations in which this member held it. A task opened under generation G is kept by the join
 * of generation N iff heldSince(p) ≤ G. A generation that skips one breaks every run. That one rule also
 * covers a lost membership: a member removed from the group (session expired, frozen) rejoins in a later
 * generation than the one that was completed without it; if it rejoins before any generation completed
 * without it, no other member can have owned its partitions in between.
 *
 * A forced rejoin (`needRejoin`, after a commit answered that the membership is stale) is skipped when a join
 * is already queued, or when the client already holds a generation newer than the one the failed commit used
 * (its JoinGroup answered, its SyncGroup in flight: the join is on its way): joining again would only start one
 * more rebalance round (seen as a cascade of ILLEGAL_GENERATION rounds when a member joins; in a failover the
 * survivor's commit under the old generation is refused exactly in that window). Any join that arrives ends
 * the need.
 *
 * Between the JoinGroup response (the client already holds the new generation) and the join event (after
 * SyncGroup), a commit under the applied generation is refused with ILLEGAL_GENERATION; its abort then costs
 * the next transactions seconds of CONCURRENT_TRANSACTIONS while the coordinator writes the abort markers
 * (measured by rebalance-keeps-tasks.test.ts). `syncing` tells the loop to hold its commits for that round trip.
 */
import type { EventEmitter } from 'node:events'

export interface GroupJoin {
  generation: number
  partitions: ReadonlySet<number>
  /** partition → first generation of the unbroken run of consecutive generations in which it was held. */
  heldSince: ReadonlyMap<number, number>
}

/** The group consumer as seen here: its events and the generation of its latest JoinGroup response. */
export type GroupConsumer = Pick<EventEmitter, 'on'> & { readonly generationId: number }

interface JoinEvent {
  generationId?: number
  assignments?: { topic: string; partitions: number[] }[]
}

export class GroupMembership {
  readonly #consumer: GroupConsumer
  readonly #topics: readonly string[]
  readonly #notify: () => void
  #pending: GroupJoin | undefined
  /** The latest join reported by the client, and the runs of held partitions up to it. */
  #latest: GroupJoin | undefined
  #rebalancing = false
  #rejoinNeeded = false
  #error: unknown

  /** Subscribes to the consumer's group events; `notify` wakes the loop. */
  constructor(consumer: GroupConsumer, topics: readonly string[], notify: () => void) {
    this.#consumer = consumer
    this.#topics = topics
    this.#notify = notify
    consumer.on('consumer:group:join', (event: JoinEvent) => this.#joined(event))
    consumer.on('consumer:group:rebalance', () => {
      this.#rebalancing = true
      notify()
    })
    // A failed rejoin (broker unreachable) is emitted as 'error', and the client then stops heartbeating: the
    // loop waits it out like a stream failure and makes the consumer join again.
    consumer.on('error', (error: unknown) => this.reportError(error, true))
  }

  /** A join is queued and not yet applied. */
  get joinPending(): boolean {
    return this.#pending !== undefined
  }

  /** The group is between a rebalance notice and the join that ends it. */
  get rebalancing(): boolean {
    return this.#rebalancing
  }

  /** The client holds a generation newer than `applied` whose join has not arrived yet (see the header). */
  syncing(applied: number): boolean {
    return this.#pending === undefined && this.#consumer.generationId > applied
  }

  get rejoinNeeded(): boolean {
    return this.#rejoinNeeded
  }

  /** Takes the latest queued join (older ones are superseded), or undefined. */
  takeJoin(): GroupJoin | undefined {
    const join = this.#pending
    this.#pending = undefined
    return join
  }

  /** Records an error of the input stream or the client; `rejoin`: membership may be lost, join again. */
  reportError(error: unknown, rejoin = false): void {
    this.#error ??= error
    if (rejoin) this.needRejoin()
    this.#notify()
  }

  /** Takes the error reported since the last call, if any. */
  takeError(): unknown {
    const error = this.#error
    this.#error = undefined
    return error
  }

  get hasError(): boolean {
    return this.#error !== undefined
  }

  /**
   * Our membership may be gone or stale: the next pass joins again, unless a join is queued or the client holds
   * a generation newer than `applied` (the one the failed commit used), see the header.
   */
  needRejoin(applied?: number): void {
    if (this.#pending !== undefined) return
    if (applied !== undefined && this.#consumer.generationId > applied) return
    this.#rejoinNeeded = true
  }

  /** The loop joined the group again (the join itself arrives as a group event). */
  rejoined(): void {
    this.#rejoinNeeded = false
  }

  #joined(event: JoinEvent): void {
    const generation = event.generationId ?? -1
    const partitions = new Set<number>()
    for (const a of event.assignments ?? [])
      if (this.#topics.includes(a.topic)) for (const p of a.partitions) partitions.add(p)
    const previous = this.#latest
    const unbroken =
      previous !== undefined &&
      generation >= 0 &&
      (generation === previous.generation || generation === previous.generation + 1)
    const heldSince = new Map<number, number>()
    for (const p of partitions) heldSince.set(p, (unbroken ? previous.heldSince.get(p) : undefined) ?? generation)
    this.#latest = { generation, partitions, heldSince }
    this.#pending = this.#latest
    this.#rebalancing = false
    this.#rejoinNeeded = false
    this.#notify()
  }
}
