/**
 * One task: the topology instantiated for one partition number. Runs source records through the processor
 * graph in offset order, fires the processors' wall-clock wake-ups and punctuations, and collects what a
 * cycle must commit: produced records, changelog records, consumed offsets.
 *
 * It does no I/O of its own: the runtime (real Kafka) and the TopologyTestDriver (in-memory topics) feed it
 * and commit for it, so both run exactly this loop. Time comes from the injected Clock.
 *
 * A record is one unit of work (api.ts glossary), and so is each `context.isolate(...)` call: journaled, and
 * undone as a whole when it throws or leaves a record over `limits.maxRecordBytes`. For a failed record the
 * topology's dead-letter spec decides (default: errors.ts `decide`): dead-letter it and go on, rethrow a
 * retriable error (the runtime aborts the cycle, backs off and processes the record again: a good record is
 * never dead-lettered for a transient fault), or fail. A failed isolated unit returns its error to the
 * processor, which decides.
 */
import type {
  Cancellable,
  Clock,
  FailedRecord,
  KeyValueStore,
  Processor,
  ProcessorContext,
  RecordMetadata,
  StreamRecord,
} from './api.ts'
import { ErrorCodes, FlextaskError, coerceError } from '../errors.ts'
import { ErrorDecisions } from './api.ts'
import { defaultDecision, ownCode } from './failure-decision.ts'
import type { ChangelogRecord, TaskStores } from './state-stores.ts'
import type { ProcessorNode, SinkNode, Topology, TopologyNode } from './topology-builder.ts'

/** A record as read from a topic, before decoding. */
export interface RawRecord {
  topic: string
  partition: number
  offset: bigint
  key: Buffer | null
  value: Buffer | null
  timestampMs: number
  headers?: ReadonlyMap<string, Buffer>
}

/** A record the task wants produced in this cycle's transaction. */
export interface OutputRecord {
  topic: string
  partition: number
  key: Buffer | null
  value: Buffer | null
  timestampMs: number
  headers?: ReadonlyMap<string, Buffer>
}

interface Punctuation {
  intervalMs: number
  nextMs: number
  callback: (nowMs: number) => void | Promise<void>
  cancelled: boolean
}

interface ProcessorSlot {
  node: ProcessorNode
  processor: Processor<unknown, unknown, unknown, unknown>
  wakeAtMs: number | undefined
  punctuations: Punctuation[]
}

export class StreamTask {
  readonly partition: number
  readonly partitionCount: number
  readonly #topology: Topology
  readonly #stores: TaskStores
  readonly #clock: Clock
  readonly #applicationId: string
  #slots = new Map<string, ProcessorSlot>()
  #queue: { node: TopologyNode; record: StreamRecord<unknown, unknown> }[] = []
  #outputs: OutputRecord[] = []
  /** Bytes of #outputs[0 .. #bytesCounted), summed lazily by pendingLoad(). */
  #outputBytes = 0
  #bytesCounted = 0
  /** source topic → last offset consumed this cycle. */
  #consumed = new Map<string, bigint>()
  #metadata: RecordMetadata | undefined
  /** The last wake-up left work due at once (timer-fairness.ts); `shouldYield` asks the running one to stop. */
  #catchingUp = false
  #shouldYield: (() => boolean) | undefined

  constructor(options: {
    topology: Topology
    partition: number
    partitionCount: number
    stores: TaskStores
    clock: Clock
    applicationId: string
  }) {
    this.#topology = options.topology
    this.partition = options.partition
    this.partitionCount = options.partitionCount
    this.#stores = options.stores
    this.#clock = options.clock
    this.#applicationId = options.applicationId
  }

  get stores(): TaskStores {
    return this.#stores
  }

  /** Creates fresh processor instances and calls their `init`. Also used to re-initialise after an abort. */
  async init(): Promise<void> {
    await this.closeProcessors()
    for (const node of this.#topology.nodes.values()) {
      if (node.kind !== 'processor') continue
      this.#slots.set(node.name, { node, processor: node.supplier(), wakeAtMs: undefined, punctuations: [] })
    }
    for (const slot of this.#slots.values()) await slot.processor.init?.(this.#context(slot))
  }

  async closeProcessors(): Promise<void> {
    const slots = [...this.#slots.values()]
    this.#slots = new Map()
    for (const slot of slots) await slot.processor.close?.()
  }

  /**
   * Decodes one source record and runs it through the graph. A failure is undone, then dead-lettered, or
   * rethrown (retry: the offset is not consumed; fail), as the dead-letter spec decides.
   */
  async process(raw: RawRecord): Promise<void> {
    this.#metadata = { topic: raw.topic, partition: raw.partition, offset: raw.offset }
    try {
      const error = await this.#unit(async () => {
        for (const source of this.#topology.sources) {
          if (source.topic !== raw.topic) continue
          const key = raw.key === null ? null : await source.keySerde.deserialize(raw.key)
          const value = raw.value === null ? null : await source.valueSerde.deserialize(raw.value)
          const record = { key, value, timestampMs: raw.timestampMs, headers: raw.headers }
          for (const child of source.children) this.#enqueue(child, record)
        }
      })
      if (error !== undefined) this.#deadLetter(raw, error)
      this.#consumed.set(raw.topic, raw.offset)
    } finally {
      this.#metadata = undefined
    }
  }

  /**
   * Runs `work` and drains what it forwarded as one journaled unit; on failure (a throw, or a record over the
   * size limit) undoes its store writes, forwards and outputs and returns the coerced error.
   */
  async #unit(work: () => void | Promise<void>): Promise<FlextaskError | undefined> {
    const outer = this.#queue
    this.#queue = []
    const outputsBefore = this.#outputs.length
    this.#stores.beginRecord()
    try {
      await work()
      await this.#drain()
      this.#checkRecordSizes(outputsBefore)
      this.#stores.endRecord()
      return undefined
    } catch (error) {
      this.#stores.rollbackRecord()
      this.#truncateOutputs(outputsBefore)
      return coerceError(error, ErrorCodes.processing)
    } finally {
      this.#queue = outer
    }
  }

  #checkRecordSizes(outputsFrom: number): void {
    const maxBytes = this.#topology.limits.maxRecordBytes
    for (let i = outputsFrom; i < this.#outputs.length; i++) {
      const out = this.#outputs[i] as OutputRecord
      const bytes = recordBytes(out)
      if (bytes > maxBytes) {
        throw new FlextaskError(
          ErrorCodes.recordTooLarge,
          `a record for ${out.topic} is ${bytes} bytes, over maxRecordBytes ${maxBytes}`,
          { context: { topic: out.topic, bytes, maxBytes } },
        )
      }
    }
    this.#stores.checkRecordSizes(maxBytes)
  }

  /** The earliest wall-clock instant at which a wake-up or punctuation is due; undefined if none. */
  nextWakeMs(): number | undefined {
    let next: number | undefined
    for (const slot of this.#slots.values()) {
      if (slot.wakeAtMs !== undefined && (next === undefined || slot.wakeAtMs < next)) next = slot.wakeAtMs
      for (const p of slot.punctuations) if (next === undefined || p.nextMs < next) next = p.nextMs
    }
    return next
  }

  /** Whether the last wake-up left work due at once (it re-armed at or before the instant it ran at). */
  get catchingUp(): boolean {
    return this.#catchingUp
  }

  /**
   * Runs every wake-up and punctuation due at or before `dueUpToMs` (the due horizon, api.ts glossary; by
   * default the clock's current instant). The clock itself is never held: a processor stamps its records and
   * judges lateness on the real instant, and handles only work due up to the horizon. `shouldYield` is what
   * `context.shouldYield()` answers meanwhile (timer-fairness.ts). An error a processor lets out of `wake()` is
   * rethrown coded (retriable stays retriable: the runtime aborts the cycle and retries); a processor that
   * wants one failing item not to stop the others isolates each item (`context.isolate`).
   */
  async runDueTimers(dueUpToMs: number = this.#clock.nowMs(), shouldYield?: () => boolean): Promise<number> {
    let ran = 0
    this.#shouldYield = shouldYield
    try {
      for (const slot of this.#slots.values()) {
        if (slot.wakeAtMs !== undefined && slot.wakeAtMs <= dueUpToMs) {
          slot.wakeAtMs = undefined
          ran++
          try {
            await slot.processor.wake?.(dueUpToMs)
            await this.#drain()
          } catch (error) {
            throw coerceError(error, ErrorCodes.processing)
          }
          this.#catchingUp = slot.wakeAtMs !== undefined && slot.wakeAtMs <= dueUpToMs
        }
        for (const p of slot.punctuations) {
          if (p.cancelled || p.nextMs > dueUpToMs) continue
          // Missed intervals are not replayed (as Kafka Streams' PunctuationSchedule).
          p.nextMs = Math.max(dueUpToMs, this.#clock.nowMs()) + p.intervalMs
          ran++
          await p.callback(dueUpToMs)
          await this.#drain()
        }
        slot.punctuations = slot.punctuations.filter((p) => !p.cancelled)
      }
    } finally {
      this.#shouldYield = undefined
    }
    return ran
  }

  /** Records this task holds for the current cycle (outputs and store writes) and the bytes of its outputs. */
  pendingLoad(): { records: number; bytes: number } {
    for (; this.#bytesCounted < this.#outputs.length; this.#bytesCounted++) {
      this.#outputBytes += recordBytes(this.#outputs[this.#bytesCounted] as OutputRecord)
    }
    return { records: this.#outputs.length + this.#stores.pendingWriteCount(), bytes: this.#outputBytes }
  }

  #truncateOutputs(length: number): void {
    this.#outputs.length = length
    if (this.#bytesCounted > length) {
      this.#bytesCounted = 0
      this.#outputBytes = 0
    }
  }

  hasWork(): boolean {
    return this.#outputs.length > 0 || this.#consumed.size > 0 || this.#stores.hasPendingWrites()
  }

  /** What this cycle must produce: outputs, then the changelog records of the store writes. */
  pendingRecords(): { outputs: OutputRecord[]; changelog: ChangelogRecord[] } {
    return { outputs: this.#outputs, changelog: this.#stores.changelogRecords() }
  }

  consumedOffsets(): ReadonlyMap<string, bigint> {
    return this.#consumed
  }

  /** After the cycle's transaction committed. */
  async committed(changelogOffsets: ReadonlyMap<string, bigint>): Promise<void> {
    this.#truncateOutputs(0)
    this.#consumed = new Map()
    await this.#stores.commit(changelogOffsets)
  }

  /** After the cycle's transaction aborted: drop everything and rebuild processors from committed state. */
  async aborted(): Promise<void> {
    this.#truncateOutputs(0)
    this.#consumed = new Map()
    this.#queue = []
    this.#stores.discard()
    await this.init()
  }

  #enqueue(name: string, record: StreamRecord<unknown, unknown>): void {
    const node = this.#topology.nodes.get(name)
    if (node === undefined) throw new Error(`topology node '${name}' does not exist`)
    this.#queue.push({ node, record })
  }

  /** Runs the queue to its end by index (shift() per record made a large drain quadratic: review C13). */
  async #drain(): Promise<void> {
    const queue = this.#queue
    let next = 0
    try {
      while (next < queue.length) {
        const { node, record } = queue[next++] as { node: TopologyNode; record: StreamRecord<unknown, unknown> }
        if (node.kind === 'sink') this.#emit(node, record)
        else if (node.kind === 'processor') await this.#slots.get(node.name)?.processor.process(record)
      }
    } finally {
      queue.splice(0, next)
    }
  }

  #emit(sink: SinkNode, record: StreamRecord<unknown, unknown>): void {
    this.#outputs.push({
      topic: sink.topic(record),
      partition: sink.partition(record, this.partition),
      key: record.key === null || record.key === undefined ? null : sink.keySerde.serialize(record.key),
      value: record.value === null || record.value === undefined ? null : sink.valueSerde.serialize(record.value),
      timestampMs: record.timestampMs,
      headers: record.headers,
    })
  }

  #deadLetter(raw: RawRecord, error: FlextaskError): void {
    const spec = this.#topology.deadLetter
    const failed: FailedRecord = {
      topic: raw.topic,
      partition: raw.partition,
      offset: raw.offset,
      key: raw.key,
      value: raw.value,
      reasonCode: spec?.reasonCode?.(error) ?? ownCode(error),
      message: error.message,
      failedAtMs: this.#clock.nowMs(),
      error,
    }
    const decision = spec?.decide?.(failed) ?? defaultDecision(error)
    if (spec === undefined || decision !== ErrorDecisions.deadLetter) throw error
    const { key, value } = spec.toRecord(failed)
    const out = { topic: spec.topic, partition: raw.partition, key, value, timestampMs: failed.failedAtMs }
    if (recordBytes(out) > this.#topology.limits.maxRecordBytes) {
      throw new FlextaskError(
        ErrorCodes.recordTooLarge,
        `the dead letter for ${raw.topic}[${raw.partition}]@${raw.offset} is ${recordBytes(out)} bytes, over maxRecordBytes ${this.#topology.limits.maxRecordBytes}: the dead-letter spec must cap what it carries`,
        { cause: error },
      )
    }
    this.#outputs.push(out)
  }

  #context(slot: ProcessorSlot): ProcessorContext<unknown, unknown> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the context object closes over its task
    const task = this
    return {
      applicationId: this.#applicationId,
      partition: this.partition,
      partitionCount: this.partitionCount,
      clock: this.#clock,
      get recordMetadata() {
        return task.#metadata
      },
      forward(record, childName) {
        const children = childName === undefined ? slot.node.children : [childName]
        if (childName !== undefined && !slot.node.children.includes(childName)) {
          throw new Error(`'${slot.node.name}' has no child named '${childName}'`)
        }
        for (const child of children) task.#enqueue(child, record)
      },
      getStateStore<V>(name: string): KeyValueStore<V> {
        if (!slot.node.stores.includes(name)) throw new Error(`'${slot.node.name}' is not connected to store '${name}'`)
        return task.#stores.store<V>(name)
      },
      wakeAt(atMs) {
        slot.wakeAtMs = atMs
      },
      schedule(intervalMs, callback): Cancellable {
        const punctuation = { intervalMs, nextMs: task.#clock.nowMs() + intervalMs, callback, cancelled: false }
        slot.punctuations.push(punctuation)
        return { cancel: () => (punctuation.cancelled = true) }
      },
      isolate(unit) {
        return task.#unit(unit)
      },
      pendingLoad() {
        return task.pendingLoad()
      },
      shouldYield() {
        return task.#shouldYield?.() ?? false
      },
    }
  }
}

/** Bytes of a record as the broker counts them against max.message.bytes, without the batch overhead. */
export function recordBytes(record: Pick<OutputRecord, 'key' | 'value' | 'headers'>): number {
  let bytes = (record.key?.length ?? 0) + (record.value?.length ?? 0)
  for (const [k, v] of record.headers ?? []) bytes += Buffer.byteLength(k) + v.length
  return bytes
}
