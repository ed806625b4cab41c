/**
 * TopologyTestDriver: runs a topology's tasks (the same StreamTask loop the runtime uses) over in-memory
 * topics with a manual wall clock, so processors are tested without a broker.
 *
 * Every `pipeInput` and every timer round is one cycle that commits, like a runtime cycle with one record;
 * `pipeInputs([...])` processes several records as one cycle. `cycles` reports the records and bytes of each
 * committed cycle. `failNextCommit()` makes the next cycle abort instead, to test abort handling. A retriable
 * error escaping a cycle aborts it and the cycle is run again, as the runtime does after its backoff.
 * `pipeBacklog(...)` models an input backlog behind the runtime's input barrier: the clock moves on while the
 * records are processed, and the timers fire afterwards, due up to the instant the input was observed (their
 * due horizon, api.ts) but on the later clock, as in the runtime. `restart()` rebuilds the tasks from committed local state; `restart({ fromChangelog: true })` also wipes
 * local state and restores it from the in-memory changelog topics, as a new owner of the partitions would.
 *
 * Like the broker, the driver refuses a record over `maxRecordBytes` (max.message.bytes): the cycle throws
 * FLEXTASK_TOPOLOGY_RECORD_TOO_LARGE, so a test sees what a real broker would refuse on every retry.
 */
import { ErrorCodes, FlextaskError, coerceError } from '../errors.ts'
import type { KeyValueStore, Serde } from './api.ts'
import { ManualClock } from './clocks.ts'
import { partitionForKey } from './partitioner.ts'
import { MemoryStoreBackend, TaskStores } from './state-stores.ts'
import { type OutputRecord, type RawRecord, StreamTask, recordBytes } from './stream-task.ts'
import type { Topology } from './topology-builder.ts'

export interface TestRecord extends OutputRecord {
  offset: bigint
}

export interface TopologyTestDriverOptions {
  applicationId?: string
  /** Number of partitions of every source topic (one task each). @default 1 */
  partitions?: number
  /** Initial wall clock, epoch ms. @default 2026-01-01T00:00:00Z */
  startMs?: number
  /** Upper bound on timer rounds per advance, to catch a processor that re-arms itself forever. @default 1_000_000 */
  maxTimerRounds?: number
  /**
   * The broker's max.message.bytes: a record (key + value + headers, plus 61 bytes of batch overhead and about
   * 20 of record overhead) over it is refused. @default 1048588 (Kafka's default)
   */
  maxRecordBytes?: number
  /** Times one cycle is retried after a retriable error before the driver gives up. @default 10 */
  maxCycleRetries?: number
}

/** A raw input record: offsets are assigned when it is appended; the partition defaults to the key's. */
interface RawInput {
  topic: string
  key: Buffer | null
  value: Buffer | null
  timestampMs?: number
  partition?: number
}

/** What one committed cycle carried, across all tasks. */
export interface CycleStats {
  /** Output and changelog records. */
  records: number
  bytes: number
}

/** Record batch header (61) plus a generous per-record overhead (varints, attributes, deltas). */
const batchOverheadBytes = 61 + 20

export class TopologyTestDriver {
  readonly clock: ManualClock
  readonly #topology: Topology
  readonly #applicationId: string
  readonly #partitions: number
  readonly #maxTimerRounds: number
  readonly #maxRecordBytes: number
  readonly #maxCycleRetries: number
  /** Every committed cycle that carried records, in order. */
  readonly cycles: CycleStats[] = []
  /** Cycles aborted by a retriable error and run again. */
  retriedCycles = 0
  readonly #topics = new Map<string, TestRecord[]>()
  readonly #readPositions = new Map<string, number>()
  readonly #backends: MemoryStoreBackend[] = []
  #tasks: StreamTask[] = []
  #failNext: Error | undefined

  constructor(topology: Topology, options: TopologyTestDriverOptions = {}) {
    this.#topology = topology
    this.#applicationId = options.applicationId ?? 'test-app'
    this.#partitions = options.partitions ?? 1
    this.#maxTimerRounds = options.maxTimerRounds ?? 1_000_000
    this.#maxRecordBytes = options.maxRecordBytes ?? 1_048_588
    this.#maxCycleRetries = options.maxCycleRetries ?? 10
    this.clock = new ManualClock(options.startMs ?? Date.UTC(2026, 0, 1))
    for (let p = 0; p < this.#partitions; p++) this.#backends.push(new MemoryStoreBackend())
  }

  changelogTopic(store: string): string {
    return `${this.#applicationId}-${store}-changelog`
  }

  async init(): Promise<void> {
    this.#tasks = []
    for (let p = 0; p < this.#partitions; p++) {
      const stores = new TaskStores(
        this.#backends[p] as MemoryStoreBackend,
        new Map([...this.#topology.stores].map(([name, spec]) => [name, spec.valueSerde])),
        (store) => this.changelogTopic(store),
        p,
      )
      const task = new StreamTask({
        topology: this.#topology,
        partition: p,
        partitionCount: this.#partitions,
        stores,
        clock: this.clock,
        applicationId: this.#applicationId,
      })
      await task.init()
      this.#tasks.push(task)
    }
    await this.#runTimers()
  }

  /** Serializes with the source's serdes and processes the record as one committed cycle. */
  async pipeInput<K, V>(
    topic: string,
    key: K | null,
    value: V | null,
    options: { timestampMs?: number; partition?: number } = {},
  ): Promise<void> {
    const source = this.#topology.sources.find((s) => s.topic === topic)
    if (source === undefined) throw new Error(`no source reads topic '${topic}'`)
    const keyBytes = key === null ? null : source.keySerde.serialize(key)
    const valueBytes = value === null ? null : source.valueSerde.serialize(value)
    await this.pipeRaw(topic, keyBytes, valueBytes, options)
  }

  /** Processes raw bytes (e.g. undecodable input) as one committed cycle. */
  async pipeRaw(
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    options: { timestampMs?: number; partition?: number } = {},
  ): Promise<void> {
    await this.pipeRawInputs([{ topic, key, value, ...options }])
  }

  /** Serializes with the sources' serdes and processes all the records as ONE committed cycle. */
  async pipeInputs(
    inputs: readonly { topic: string; key: unknown; value: unknown; timestampMs?: number; partition?: number }[],
  ): Promise<void> {
    await this.pipeRawInputs(inputs.map((input) => this.#serialize(input)))
  }

  /** Raw records processed as one committed cycle (an aborted cycle is retried from its first record). */
  async pipeRawInputs(inputs: readonly RawInput[]): Promise<void> {
    await this.#pipeCycle(inputs)
    await this.#runTimers()
  }

  /**
   * An input backlog behind the runtime's input barrier (topology/input-barrier.ts): every record was in its
   * topic when the barrier observed the input, at the current instant A. Each record is one committed cycle and
   * takes `msPerRecord` of wall clock to read and process; no timer fires meanwhile (the barrier waits for the
   * backlog). Then the timers due up to A fire (A is their due horizon), with the clock at the real instant,
   * now later than A. A timer due after A waits for the next observation (the next advance or input).
   */
  async pipeBacklog(
    inputs: readonly { topic: string; key: unknown; value: unknown; partition?: number }[],
    options: { msPerRecord: number },
  ): Promise<void> {
    const observedAtMs = this.clock.nowMs()
    for (const input of inputs) {
      await this.#pipeCycle([this.#serialize(input)])
      this.clock.advance(options.msPerRecord)
    }
    await this.#runTimers(observedAtMs)
  }

  #serialize(input: {
    topic: string
    key: unknown
    value: unknown
    timestampMs?: number
    partition?: number
  }): RawInput {
    const source = this.#topology.sources.find((s) => s.topic === input.topic)
    if (source === undefined) throw new Error(`no source reads topic '${input.topic}'`)
    const key = input.key === null ? null : source.keySerde.serialize(input.key)
    const value = input.value === null ? null : source.valueSerde.serialize(input.value)
    return { ...input, key, value }
  }

  async #pipeCycle(inputs: readonly RawInput[]): Promise<void> {
    const raws = inputs.map((input) => {
      const partition = input.partition ?? (input.key === null ? 0 : partitionForKey(input.key, this.#partitions))
      if (this.#tasks[partition] === undefined) {
        throw new Error(`partition ${partition} does not exist (partitions: ${this.#partitions})`)
      }
      const log = this.#log(input.topic)
      const raw: RawRecord = {
        topic: input.topic,
        partition,
        offset: BigInt(log.length),
        key: input.key,
        value: input.value,
        timestampMs: input.timestampMs ?? this.clock.nowMs(),
      }
      log.push({ ...raw })
      return raw
    })
    // An aborted cycle is retried from the committed position, as the runtime re-reads its input.
    await this.#cycle(async () => {
      for (const raw of raws) await (this.#tasks[raw.partition] as StreamTask).process(raw)
    })
  }

  /** Runs `work` and commits; an injected failure or a retriable error aborts the cycle and runs it again. */
  async #cycle(work: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await work()
      } catch (error) {
        const coerced = coerceError(error)
        if (!coerced.retriable || attempt >= this.#maxCycleRetries) throw coerced
        this.retriedCycles++
        for (const task of this.#tasks) await task.aborted()
        continue
      }
      if (await this.#commit()) return
    }
  }

  /** Moves the wall clock forward (or backward, with a negative ms) and runs what became due. */
  async advanceWallClock(ms: number): Promise<void> {
    this.clock.advance(ms)
    await this.#runTimers()
  }

  /** Records produced to `topic` since the last read. */
  readOutput(topic: string): TestRecord[] {
    const log = this.#log(topic)
    const from = this.#readPositions.get(topic) ?? 0
    this.#readPositions.set(topic, log.length)
    return log.slice(from)
  }

  /** Decoded values produced to `topic` since the last read. */
  async readValues<V>(topic: string, serde: Serde<V>): Promise<(V | null)[]> {
    const values: (V | null)[] = []
    for (const r of this.readOutput(topic)) values.push(r.value === null ? null : await serde.deserialize(r.value))
    return values
  }

  /** Every record ever produced to `topic` (including changelogs), without moving the read position. */
  topic(topic: string): readonly TestRecord[] {
    return this.#log(topic)
  }

  /** A task's store, reading committed state. */
  store<V>(name: string, partition = 0): KeyValueStore<V> {
    const task = this.#tasks[partition]
    if (task === undefined) throw new Error(`partition ${partition} does not exist`)
    return task.stores.store<V>(name)
  }

  /** Makes the next cycle abort instead of committing. */
  failNextCommit(error = new Error('injected commit failure')): void {
    this.#failNext = error
  }

  /** Simulates a restart; with fromChangelog, local state is lost and restored from the changelog topics. */
  async restart(options: { fromChangelog?: boolean } = {}): Promise<void> {
    for (const task of this.#tasks) await task.closeProcessors()
    if (options.fromChangelog === true) {
      for (let p = 0; p < this.#partitions; p++) {
        const backend = this.#backends[p] as MemoryStoreBackend
        await backend.wipe()
        for (const store of this.#topology.stores.keys()) {
          const writes = this.#log(this.changelogTopic(store))
            .filter((r) => r.partition === p && r.key !== null)
            .map((r) => ({ store, key: (r.key as Buffer).toString(), value: r.value }))
          await backend.write(writes, new Map())
        }
      }
    }
    await this.init()
  }

  async close(): Promise<void> {
    for (const task of this.#tasks) await task.closeProcessors()
  }

  /** Runs the timers due up to `dueUpToMs` (the due horizon; by default now), round after round. */
  async #runTimers(dueUpToMs = this.clock.nowMs()): Promise<void> {
    for (let round = 0; ; round++) {
      if (round >= this.#maxTimerRounds) throw new Error(`timers still due after ${round} rounds at one instant`)
      const due = this.#tasks.filter((t) => {
        const next = t.nextWakeMs()
        return next !== undefined && next <= dueUpToMs
      })
      if (due.length === 0) return
      // An aborted timer round is simply run again: processors re-armed their wake-ups from committed state.
      await this.#cycle(async () => {
        for (const task of due) if ((task.nextWakeMs() ?? Infinity) <= dueUpToMs) await task.runDueTimers(dueUpToMs)
      })
    }
  }

  /** Commits every task's cycle; false when an injected failure aborted it instead. */
  async #commit(): Promise<boolean> {
    if (this.#failNext !== undefined) {
      this.#failNext = undefined
      for (const task of this.#tasks) await task.aborted()
      return false
    }
    const working = this.#tasks.filter((task) => task.hasWork())
    const stats: CycleStats = { records: 0, bytes: 0 }
    for (const task of working) {
      const { outputs, changelog } = task.pendingRecords()
      for (const record of [...outputs, ...changelog]) {
        const bytes = recordBytes(record)
        if (bytes + batchOverheadBytes > this.#maxRecordBytes) {
          throw new FlextaskError(
            ErrorCodes.recordTooLarge,
            `the broker would refuse a record for ${record.topic}: ${bytes} bytes plus overhead is over max.message.bytes ${this.#maxRecordBytes}`,
          )
        }
        stats.records++
        stats.bytes += bytes
      }
    }
    if (stats.records > 0) this.cycles.push(stats)
    for (const task of working) {
      const { outputs, changelog } = task.pendingRecords()
      for (const out of outputs) this.#append(out)
      const changelogOffsets = new Map<string, bigint>()
      for (const record of changelog) {
        const offset = this.#append({ ...record, timestampMs: this.clock.nowMs() })
        changelogOffsets.set(record.topic, offset + 1n)
      }
      await task.committed(changelogOffsets)
    }
    return true
  }

  #append(record: OutputRecord): bigint {
    const log = this.#log(record.topic)
    const offset = BigInt(log.length)
    log.push({ ...record, offset })
    return offset
  }

  #log(topic: string): TestRecord[] {
    let log = this.#topics.get(topic)
    if (log === undefined) this.#topics.set(topic, (log = []))
    return log
  }
}
