/**
 * The stream runtime on a real Kafka cluster: one consumer-group member per process, one StreamTask per
 * assigned partition number, and an exactly-once commit loop.
 *
 * Cycle (one Kafka transaction, like Kafka Streams exactly_once_v2):
 *   process buffered records of running tasks → run due wall-clock timers → if anything was produced,
 *   consumed or written: send outputs + changelog records, commit the consumed offsets with the group's
 *   generation (TxnOffsetCommit, KIP-447), commit → apply each task's store writes to LevelDB in one batch.
 *   On abort: drop every uncommitted effect, re-initialise the processors from committed state and re-read
 *   the inputs from the committed offsets (the client has no seek, so the stream is re-created).
 *
 * Fencing: every transaction commits at least one offset with the generation this process believes it has,
 * even when only timers fired, so a zombie that lost its partitions in a rebalance cannot commit (its
 * TxnOffsetCommit fails with ILLEGAL_GENERATION). Records fetched under an older generation are dropped.
 *
 * Assignment: on every join the new assignment is diffed with the running tasks. A task that stays keeps
 * its stores (static membership keeps placement across restarts); a revoked task stops at once and closes
 * its stores; a new task restores its changelogs up to the end offsets captured now before it processes a
 * record or fires a timer (anchors-kafka.md §3.1).
 */
import { EventEmitter } from 'node:events'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  Admin,
  type AdminOptions,
  Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type MessagesStream,
  Producer,
} from '@platformatic/kafka'
import type { Logger } from '../logger.ts'
import type { Clock, KeyRange } from './api.ts'
import { ChangelogRestorer, type RestoreProgress } from './changelog-restorer.ts'
import { systemClock } from './clocks.ts'
import { isFencing, kafkaErrorIds } from './kafka-errors.ts'
import { LevelStoreBackend, TaskStores } from './state-stores.ts'
import { type OutputRecord, type RawRecord, StreamTask } from './stream-task.ts'
import type { Topology } from './topology-builder.ts'

export interface StreamRuntimeOptions {
  /** Consumer group id, transactional id prefix and changelog topic prefix. */
  applicationId: string
  bootstrapBrokers: string[]
  /** Directory for task state: <stateDir>/<applicationId>/<partition>. */
  stateDir: string
  /** Stable id of this process: static group membership and transactional id. @default random */
  instanceId?: string
  /** Minimum spacing of commits while records flow; timers commit at once. @default 100 */
  commitIntervalMs?: number
  /** @default 10000 */
  sessionTimeoutMs?: number
  /** @default 1000 */
  heartbeatIntervalMs?: number
  /** @default 30000 */
  rebalanceTimeoutMs?: number
  /** Transaction timeout sent to the coordinator (the client's `timeout`). @default 30000 */
  transactionTimeoutMs?: number
  /** Records processed per cycle before committing. @default 5000 */
  maxRecordsPerCycle?: number
  /** Buffered records above which fetching pauses. @default 20000 */
  maxBufferedRecords?: number
  /** Use static membership (groupInstanceId = instanceId). @default true */
  staticMembership?: boolean
  clock?: Clock
  /** Security options every client of the runtime gets (SASL, TLS); see kafka-clients.ts. @default plain */
  connection?: Pick<AdminOptions, 'sasl' | 'tls' | 'tlsServerName'>
  /** Receives debug lines for errors the runtime deliberately ignores (best-effort cleanup). @default silent */
  logger?: Pick<Logger, 'debug'>
}

type TaskState = 'restoring' | 'running' | 'closing'

interface TaskEntry {
  partition: number
  task: StreamTask
  backend: LevelStoreBackend
  state: TaskState
  /** source topic → committed offset (next to read), for fencing commits. */
  committed: Map<string, bigint>
  restore: Promise<void>
  abort: AbortController
}

export interface RuntimeStats {
  cyclesCommitted: number
  cyclesAborted: number
  recordsProcessed: number
  timersRun: number
  restoredRecords: number
}

export class StreamRuntime extends EventEmitter {
  readonly #topology: Topology
  readonly #options: Required<Omit<StreamRuntimeOptions, 'clock' | 'connection' | 'logger'>> & { clock: Clock }
  readonly #connection: NonNullable<StreamRuntimeOptions['connection']>
  readonly #logger: Pick<Logger, 'debug'>
  #closing: Promise<void> | undefined
  readonly #consumer: Consumer
  readonly #restoreConsumer: Consumer
  #producer: Producer
  readonly #restorer: ChangelogRestorer
  readonly #admin: Admin
  readonly #tasks = new Map<number, TaskEntry>()
  /** partition → records fetched under the current generation, waiting for their task to run. */
  readonly #inbox = new Map<number, Message[]>()
  readonly stats: RuntimeStats = {
    cyclesCommitted: 0,
    cyclesAborted: 0,
    recordsProcessed: 0,
    timersRun: 0,
    restoredRecords: 0,
  }
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  #streamEpoch = 0
  #generation = -1
  #assigned = new Set<number>()
  #rebalancing = false
  #joined = false
  #paused = false
  #stopping = false
  #loop: Promise<void> | undefined
  #signal: (() => void) | undefined
  #lastCommitAt = 0
  /** Records processed since the last commit: a transaction holds at most maxRecordsPerCycle. */
  #uncommittedRecords = 0
  #partitionCount = 0
  /** Consecutive aborted cycles; drives the backoff before retrying. */
  #abortStreak = 0
  #fatal: Error | undefined

  constructor(topology: Topology, options: StreamRuntimeOptions) {
    super()
    this.#topology = topology
    const instanceId = options.instanceId ?? `${options.applicationId}-${Math.random().toString(36).slice(2, 10)}`
    this.#options = {
      instanceId,
      commitIntervalMs: 100,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1_000,
      rebalanceTimeoutMs: 30_000,
      transactionTimeoutMs: 30_000,
      maxRecordsPerCycle: 5_000,
      maxBufferedRecords: 20_000,
      staticMembership: true,
      clock: systemClock,
      ...options,
    }
    this.#connection = options.connection ?? {}
    this.#logger = options.logger ?? { debug: () => undefined }
    const o = this.#options
    this.#consumer = new Consumer({
      ...this.#connection,
      clientId: `${instanceId}-consumer`,
      groupId: o.applicationId,
      ...(o.staticMembership ? { groupInstanceId: instanceId } : {}),
      bootstrapBrokers: o.bootstrapBrokers,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
      maxWaitTime: 500,
      highWaterMark: 1024,
      // Bounded fetches: the client buffers a whole fetch response even while the stream is paused.
      maxBytes: 4 * 1024 * 1024,
      maxBytesPerPartition: 1024 * 1024,
    })
    this.#restoreConsumer = new Consumer({
      ...this.#connection,
      clientId: `${instanceId}-restore`,
      groupId: `${o.applicationId}-restore-never-joins`,
      bootstrapBrokers: o.bootstrapBrokers,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    })
    this.#producer = this.#createProducer()
    this.#restorer = new ChangelogRestorer({ consumer: this.#restoreConsumer })
    this.#admin = new Admin({
      ...this.#connection,
      clientId: `${instanceId}-admin`,
      bootstrapBrokers: o.bootstrapBrokers,
    })
    this.#consumer.on(
      'consumer:group:join',
      (event: { generationId?: number; assignments?: { topic: string; partitions: number[] }[] }) =>
        this.#onJoin(event.generationId ?? -1, event.assignments ?? []),
    )
    this.#consumer.on('consumer:group:rebalance', () => {
      this.#rebalancing = true
      this.#notify()
    })
  }

  #createProducer(): Producer {
    const o = this.#options
    return new Producer({
      ...this.#connection,
      clientId: `${o.instanceId}-producer`,
      bootstrapBrokers: o.bootstrapBrokers,
      idempotent: true,
      transactionalId: `${o.applicationId}-${o.instanceId}`,
      timeout: o.transactionTimeoutMs,
      // The broker answers CONCURRENT_TRANSACTIONS to AddPartitionsToTxn right after a commit while it writes
      // the markers; the client's default 1 s retry delay turned that into 1 s commit stalls.
      retries: 10,
      retryDelay: 20,
    })
  }

  get applicationId(): string {
    return this.#options.applicationId
  }

  changelogTopic(store: string): string {
    return `${this.#options.applicationId}-${store}-changelog`
  }

  /** Partitions whose tasks are restored and running. */
  runningPartitions(): number[] {
    return [...this.#tasks.values()].filter((t) => t.state === 'running').map((t) => t.partition)
  }

  /**
   * Reads a running task's store (committed state only), like a Kafka Streams interactive query.
   * Returns undefined when this process does not run that partition's task.
   */
  async queryStore<V>(store: string, partition: number, range: KeyRange = {}): Promise<[string, V][] | undefined> {
    const entry = this.#tasks.get(partition)
    const spec = this.#topology.stores.get(store)
    if (entry?.state !== 'running' || spec === undefined) return undefined
    const entries = await entry.backend.range(store, range)
    return entries.map(([k, v]) => [k, spec.valueSerde.deserialize(v) as V])
  }

  /** Creates the changelog topics (checking co-partitioning), joins the group and starts the loop. */
  async start(): Promise<void> {
    await this.#ensureChangelogs()
    await this.#fencePreviousSession()
    await this.#restartStream()
    this.#loop = this.#run().catch((error: unknown) => this.#fail(error))
  }

  /**
   * Initialises the transactional producer before anything is restored: InitProducerId with our
   * transactional id aborts a transaction our previous incarnation left open (kill -9 mid-cycle) at once,
   * instead of after the coordinator's transaction timeout, which would otherwise hold the new owner's
   * stable-offset wait (see #committedOffsets) for up to that long.
   */
  async #fencePreviousSession(): Promise<void> {
    const transaction = await this.#producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
    // Nothing was added to it: the broker refuses EndTxn for an empty transaction, so discard it locally.
    await transaction.cancel()
  }

  /** Resolves once every assigned task is restored and running (or rejects after timeoutMs). */
  async waitUntilRunning(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(this.#joined && [...this.#assigned].every((p) => this.#tasks.get(p)?.state === 'running'))) {
      if (this.#fatal) throw this.#fatal
      if (Date.now() > deadline) throw new Error(`${this.applicationId}: tasks not running after ${timeoutMs} ms`)
      await sleep(20)
    }
  }

  /**
   * Finishes the current cycle, commits, closes the stores and leaves the group. Idempotent: every caller awaits
   * the same close, and it also releases clients and stores (the LevelDB locks) after a fatal error, which stops
   * the loop but closes nothing by itself.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeResources()
    return this.#closing
  }

  async #closeResources(): Promise<void> {
    this.#stopping = true
    this.#notify()
    await this.#loop
    for (const entry of this.#tasks.values()) await this.#closeTask(entry)
    this.#tasks.clear()
    await this.#stream?.close().catch(this.#ignored('closing the stream'))
    await this.#consumer.close(true).catch(this.#ignored('closing the consumer'))
    await this.#restoreConsumer.close(true).catch(this.#ignored('closing the restore consumer'))
    await this.#producer.close().catch(this.#ignored('closing the producer'))
    await this.#admin.close().catch(this.#ignored('closing the admin client'))
  }

  /** A catch handler for best-effort steps whose failure changes nothing: logs the reason at debug level. */
  #ignored(what: string, fields: Record<string, unknown> = {}): (error: unknown) => void {
    return (error: unknown) =>
      this.#logger.debug({ ...fields, err: error, generation: this.#generation }, `ignored a failure ${what}`)
  }

  async #ensureChangelogs(): Promise<void> {
    const admin = new Admin({
      ...this.#connection,
      clientId: `${this.#options.instanceId}-admin`,
      bootstrapBrokers: this.#options.bootstrapBrokers,
    })
    try {
      const metadata = await admin.metadata({ topics: [...this.#topology.sourceTopics] })
      const counts = new Set(this.#topology.sourceTopics.map((t) => metadata.topics.get(t)?.partitionsCount))
      if (counts.size !== 1 || counts.has(undefined)) {
        const detail = this.#topology.sourceTopics.map(
          (t) => `${t}=${metadata.topics.get(t)?.partitionsCount ?? 'missing'}`,
        )
        throw new Error(`source topics must exist and be co-partitioned (equal partition counts): ${detail.join(', ')}`)
      }
      const partitions = [...counts][0] as number
      this.#partitionCount = partitions
      const changelogs = [...this.#topology.stores.keys()].map((s) => this.changelogTopic(s))
      if (changelogs.length === 0) return
      const existing = await admin.listTopics()
      const missing = changelogs.filter((t) => !existing.includes(t))
      if (missing.length > 0) {
        await admin
          .createTopics({
            topics: missing,
            partitions,
            replicas: -1,
            configs: [
              { name: 'cleanup.policy', value: 'compact' },
              { name: 'min.compaction.lag.ms', value: '0' },
              { name: 'segment.ms', value: '600000' },
            ],
          })
          .catch((error: unknown) => {
            // Another instance created them first.
            const ids = kafkaErrorIds(error)
            if (ids.size === 0 || [...ids].some((id) => id !== 'TOPIC_ALREADY_EXISTS')) throw error
          })
      }
      const after = await admin.metadata({ topics: changelogs })
      for (const t of changelogs) {
        const count = after.topics.get(t)?.partitionsCount
        if (count !== partitions) throw new Error(`changelog ${t} has ${count} partitions, sources have ${partitions}`)
      }
    } finally {
      await admin.close()
    }
  }

  #onJoin(generation: number, assignments: { topic: string; partitions: number[] }[]): void {
    this.#generation = generation
    this.#rebalancing = false
    this.#joined = true
    const mine = new Set<number>()
    for (const a of assignments)
      if (this.#topology.sourceTopics.includes(a.topic)) for (const p of a.partitions) mine.add(p)
    this.#assigned = mine
    // Records buffered under the old generation are re-fetched from the committed offsets.
    this.#inbox.clear()
    // Every task is closed and re-created on every assignment, even one this process keeps: a process that
    // was frozen (GC pause, SIGSTOP) may have lost and regained a partition without seeing it, while another
    // owner advanced its changelog. Re-opening restores only the changelog tail past the offset stored with
    // the local state, so this costs a few fetches, and every task starts from the latest committed state.
    this.#closeAllTasks()
    this.emit('assigned', { generation, partitions: [...mine] })
    this.#notify()
  }

  #closeAllTasks(): void {
    for (const entry of this.#tasks.values()) {
      entry.state = 'closing'
      entry.abort.abort()
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      await this.#reconcile()
      if (this.#rebalancing || !this.#joined) {
        await this.#waitForSignal(50)
        continue
      }
      const processed = await this.#processRecords()
      const timers = await this.#runTimers()
      const dirty = this.#running().some((e) => e.task.hasWork())
      const intervalDue = this.#options.clock.nowMs() - this.#lastCommitAt >= this.#options.commitIntervalMs
      const full = this.#uncommittedRecords >= this.#options.maxRecordsPerCycle
      if (dirty && (timers > 0 || intervalDue || full || this.#buffered() === 0)) await this.#commit()
      else if (processed === 0 && timers === 0) await this.#waitForSignal(this.#msUntilNextWake())
      this.#applyBackpressure()
    }
    if (this.#running().some((e) => e.task.hasWork()) && !this.#rebalancing) await this.#commit()
  }

  async #reconcile(): Promise<void> {
    for (const entry of [...this.#tasks.values()]) {
      if (entry.state === 'closing') {
        await this.#closeTask(entry)
        this.#tasks.delete(entry.partition)
      }
    }
    for (const partition of this.#assigned) if (!this.#tasks.has(partition)) await this.#openTask(partition)
  }

  async #openTask(partition: number): Promise<void> {
    const o = this.#options
    const directory = join(o.stateDir, o.applicationId, String(partition))
    mkdirSync(directory, { recursive: true })
    const backend = new LevelStoreBackend(directory, [...this.#topology.stores.keys()])
    await backend.open()
    const serdes = new Map([...this.#topology.stores].map(([name, spec]) => [name, spec.valueSerde]))
    const stores = new TaskStores(backend, serdes, (s) => this.changelogTopic(s), partition)
    const task = new StreamTask({
      topology: this.#topology,
      partition,
      partitionCount: this.#partitionCount,
      stores,
      clock: o.clock,
      applicationId: o.applicationId,
    })
    const targets = [...this.#topology.stores.keys()].map((store) => ({ store, topic: this.changelogTopic(store) }))
    const committed = await this.#committedOffsets(partition)
    // End offsets are captured at assignment, once no transaction is open on the changelogs (a previous
    // owner's last cycle): nothing fires before the state is restored up to them.
    const ends = await this.#restorer.stableEndOffsets(
      targets.map((t) => t.topic),
      partition,
      2 * this.#options.transactionTimeoutMs,
    )
    const entry: TaskEntry = {
      partition,
      task,
      backend,
      state: 'restoring',
      committed,
      restore: Promise.resolve(),
      abort: new AbortController(),
    }
    const startedAt = performance.now()
    entry.restore = this.#restorer
      .restoreTask(stores, partition, targets, ends, entry.abort.signal)
      .then(async (progress: RestoreProgress[]) => {
        if (entry.state !== 'restoring') return
        await task.init()
        entry.state = 'running'
        const records = progress.reduce((n, p) => n + p.records, 0)
        this.stats.restoredRecords += records
        this.emit('restored', { partition, records, durationMs: performance.now() - startedAt, progress })
        this.#notify()
      })
      .catch((error: unknown) => {
        if (entry.state !== 'closing') this.#fail(error)
      })
    this.#tasks.set(partition, entry)
  }

  async #closeTask(entry: TaskEntry): Promise<void> {
    entry.state = 'closing'
    entry.abort.abort()
    await entry.restore
    await entry.task.closeProcessors()
    await entry.backend.close().catch(this.#ignored('closing the task stores', { partition: entry.partition }))
  }

  /**
   * The group's committed offsets for a new task's partitions, read with require_stable (KIP-447): while the
   * previous owner's transaction that commits offsets for this partition is still open, the broker answers
   * UNSTABLE_OFFSET_COMMIT and we wait, so the task never starts behind its previous owner's last commit.
   * (The client's own offset fetch does not ask for stable offsets; records below these are dropped.)
   */
  async #committedOffsets(partition: number): Promise<Map<string, bigint>> {
    const topics = [...this.#topology.sourceTopics]
    const deadline = Date.now() + 2 * this.#options.transactionTimeoutMs
    let groups
    for (;;) {
      try {
        groups = await this.#admin.listConsumerGroupOffsets({
          groups: [
            {
              groupId: this.#options.applicationId,
              topics: topics.map((name) => ({ name, partitionIndexes: [partition] })),
            },
          ],
          requireStable: true,
        })
        break
      } catch (error) {
        if (!kafkaErrorIds(error).has('UNSTABLE_OFFSET_COMMIT') || Date.now() > deadline) throw error
        await sleep(100)
      }
    }
    const starts = await this.#restoreConsumer.listOffsets({
      topics,
      partitions: Object.fromEntries(topics.map((t) => [t, [partition]])),
      timestamp: ListOffsetTimestamps.EARLIEST,
    })
    const committed = new Map<string, bigint>()
    for (const t of topics) {
      const c = groups[0]?.topics
        .find((x) => x.name === t)
        ?.partitions.find((x) => x.partitionIndex === partition)?.committedOffset
      committed.set(t, c !== undefined && c >= 0n ? c : (starts.get(t)?.[partition] ?? 0n))
    }
    return committed
  }

  #running(): TaskEntry[] {
    return [...this.#tasks.values()].filter((e) => e.state === 'running')
  }

  #buffered(): number {
    let n = 0
    for (const queue of this.#inbox.values()) n += queue.length
    return n
  }

  /** Processes buffered records, sharing the cycle's budget fairly between the running tasks. */
  async #processRecords(): Promise<number> {
    let processed = 0
    const running = this.#running()
    const budget = this.#options.maxRecordsPerCycle - this.#uncommittedRecords
    const perTask = Math.max(1, Math.ceil(budget / Math.max(1, running.length)))
    for (const entry of running) {
      const queue = this.#inbox.get(entry.partition)
      if (queue === undefined || queue.length === 0) continue
      for (const message of queue.splice(0, Math.min(perTask, budget - processed))) {
        if (entry.state !== 'running') break
        // Already processed and committed by a previous owner (see #committedOffsets).
        if (message.offset < (entry.committed.get(message.topic) ?? 0n)) continue
        await entry.task.process(toRawRecord(message))
        this.#lastMessages.set(`${message.topic}\u0000${message.partition}`, message)
        processed++
      }
    }
    this.#uncommittedRecords += processed
    this.stats.recordsProcessed += processed
    return processed
  }

  readonly #lastMessages = new Map<string, Message>()

  async #runTimers(): Promise<number> {
    let ran = 0
    const now = this.#options.clock.nowMs()
    for (const entry of this.#running()) {
      const next = entry.task.nextWakeMs()
      if (next !== undefined && next <= now) ran += await entry.task.runDueTimers()
    }
    this.stats.timersRun += ran
    return ran
  }

  #msUntilNextWake(): number {
    let next = Infinity
    for (const entry of this.#running()) next = Math.min(next, entry.task.nextWakeMs() ?? Infinity)
    const ms = next - this.#options.clock.nowMs()
    return Math.max(0, Math.min(ms, 1000))
  }

  async #commit(): Promise<void> {
    const entries = this.#running().filter((e) => e.task.hasWork())
    const generation = this.#generation
    const messages: (OutputRecord & { timestamp: bigint })[] = []
    const outputs: OutputRecord[] = []
    for (const entry of entries) {
      const pending = entry.task.pendingRecords()
      outputs.push(...pending.outputs)
      const { changelog } = pending
      for (const r of pending.outputs) messages.push({ ...r, timestamp: BigInt(r.timestampMs) })
      const nowMs = this.#options.clock.nowMs()
      for (const r of changelog) messages.push({ ...r, timestampMs: nowMs, timestamp: BigInt(nowMs) })
    }
    const startedAt = performance.now()
    let transaction: Awaited<ReturnType<Producer['beginTransaction']>> | undefined
    const changelogOffsets = new Map<string, bigint>()
    try {
      // Why -1/-1: @platformatic/kafka 2.12.1 otherwise sends producerId 0 / epoch 0 in InitProducerId, which
      // the broker reads as "expected producer 0" (KIP-360) and answers PRODUCER_FENCED as soon as the
      // transactional id already has state, i.e. on every restart of an instance.
      transaction = await this.#producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
      // Several sends of bounded size: the client writes one record batch per partition and send, and the
      // broker refuses batches over max.message.bytes (1 MiB by default).
      for (const chunk of chunksOfBytes(messages, MAX_SEND_BYTES)) {
        const result = await transaction.send({
          messages: chunk.map((m) => ({
            topic: m.topic,
            partition: m.partition,
            key: m.key ?? undefined,
            value: m.value ?? undefined,
            timestamp: m.timestamp,
            headers: m.headers === undefined ? undefined : new Map([...m.headers].map(([k, v]) => [Buffer.from(k), v])),
          })),
        })
        for (const [key, offset] of lowerBoundOffsets(result.offsets ?? [])) {
          if (offset > (changelogOffsets.get(key) ?? -1n)) changelogOffsets.set(key, offset)
        }
      }
      const tx = transaction
      await this.#bounded(tx.addConsumer(this.#consumer), 'AddOffsetsToTxn')
      const offsets = this.#offsetsToCommit(entries, generation)
      // Sequential on purpose: concurrent addOffset calls are coalesced by the client (dependencies.md §1.9).
      for (const message of offsets) await this.#bounded(tx.addOffset(message), 'TxnOffsetCommit')
      await this.#bounded(tx.commit(), 'EndTxn')
    } catch (error) {
      // The transaction is abandoned either way: the coordinator aborts it on timeout or fencing.
      await transaction?.abort().catch(this.#ignored('aborting a failed transaction'))
      await this.#aborted(error)
      return
    }
    this.#lastCommitAt = this.#options.clock.nowMs()
    this.#uncommittedRecords = 0
    this.#abortStreak = 0
    this.stats.cyclesCommitted++
    for (const entry of entries) {
      for (const [topic, offset] of entry.task.consumedOffsets()) entry.committed.set(topic, offset + 1n)
      const mine = new Map(
        [...changelogOffsets]
          .filter(([k]) => k.endsWith(`\u0000${entry.partition}`))
          .map(([k, v]) => [k.split('\u0000')[0] as string, v]),
      )
      await entry.task.committed(mine)
    }
    this.#lastMessages.clear()
    this.emit('committed', {
      records: messages.length,
      tasks: entries.length,
      durationMs: performance.now() - startedAt,
      // The sink records of the transaction (changelogs excluded), for observers that derive metrics from them.
      outputs,
    })
  }

  /**
   * Fails a transaction step that does not answer within the transaction timeout. Seen: after a process was
   * frozen past its session, TxnOffsetCommit with the stale generation never answered; the abort path then
   * replaces the producer and rejoins.
   */
  async #bounded<T>(step: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} did not complete within ${this.#options.transactionTimeoutMs} ms`)),
        this.#options.transactionTimeoutMs,
      )
    })
    try {
      return await Promise.race([step, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Real consumed offsets, plus one fencing offset when nothing was consumed (see the module header). */
  #offsetsToCommit(entries: TaskEntry[], generation: number): Message[] {
    const offsets = [...this.#lastMessages.values()]
    if (offsets.length > 0) return offsets
    const entry = entries[0] ?? this.#running()[0]
    if (entry === undefined) return []
    const [topic, next] = [...entry.committed][0] as [string, bigint]
    const consumer = {
      groupId: this.#consumer.groupId,
      generationId: generation,
      memberId: this.#consumer.memberId,
      coordinatorId: this.#consumer.coordinatorId,
    }
    return [{ topic, partition: entry.partition, offset: next - 1n, metadata: { consumer } } as unknown as Message]
  }

  async #aborted(error: unknown): Promise<void> {
    this.stats.cyclesAborted++
    this.#uncommittedRecords = 0
    this.#lastMessages.clear()
    this.emit('aborted', error)
    if (kafkaErrorIds(error).has('FENCED_INSTANCE_ID')) throw error
    if (isFencing(error)) {
      // The coordinator bumped our producer epoch (a transaction timed out while this process was frozen) or
      // another producer took the id: treat all tasks as migrated, as Kafka Streams does, and rejoin.
      this.#closeAllTasks()
    }
    for (const entry of this.#running()) await entry.task.aborted()
    // A failed produce leaves the idempotent producer's sequence numbers ahead of the broker's: start a new
    // producer session (InitProducerId bumps the epoch), as the Java client does after an abortable error.
    await this.#producer.close().catch(this.#ignored('closing the producer after an abort'))
    this.#producer = this.#createProducer()
    // Back off before retrying the same input (100 ms doubling to 5 s, ±20 %), so a persistent fault
    // (e.g. a record the broker refuses) does not spin.
    this.#abortStreak++
    const backoffMs = Math.min(5000, 100 * 2 ** (this.#abortStreak - 1)) * (0.8 + Math.random() * 0.4)
    await this.#waitForSignal(backoffMs)
    if (!this.#stopping) await this.#restartStream()
  }

  async #restartStream(): Promise<void> {
    const epoch = ++this.#streamEpoch
    const old = this.#stream
    this.#stream = undefined
    this.#inbox.clear()
    await old?.close().catch(this.#ignored('closing the previous stream'))
    const stream = await this.#consumer.consume({
      topics: [...this.#topology.sourceTopics],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    this.#stream = stream
    this.#paused = false
    stream.on('data', (message: Message) => {
      if (epoch !== this.#streamEpoch) return
      const generation = (message.metadata.consumer as { generationId?: number } | undefined)?.generationId
      if (generation !== this.#generation) return
      if (!this.#assigned.has(message.partition)) return
      let queue = this.#inbox.get(message.partition)
      if (queue === undefined) this.#inbox.set(message.partition, (queue = []))
      queue.push(message)
      this.#applyBackpressure()
      this.#notify()
    })
    stream.on('error', (error: unknown) => this.#fail(error))
  }

  #applyBackpressure(): void {
    const buffered = this.#buffered()
    if (!this.#paused && buffered >= this.#options.maxBufferedRecords) {
      this.#paused = true
      this.#stream?.pause()
    } else if (this.#paused && buffered < this.#options.maxBufferedRecords / 2) {
      this.#paused = false
      this.#stream?.resume()
    }
  }

  #notify(): void {
    const signal = this.#signal
    this.#signal = undefined
    signal?.()
  }

  async #waitForSignal(ms: number): Promise<void> {
    if (this.#stopping) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#signal = undefined
        resolve()
      }, ms)
      this.#signal = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  #fail(error: unknown): void {
    if (this.#fatal !== undefined) return
    this.#fatal = error instanceof Error ? error : new Error(String(error))
    this.#stopping = true
    this.#notify()
    this.emit('error', this.#fatal)
  }
}

const MAX_SEND_BYTES = 512 * 1024

function* chunksOfBytes<T extends { key: Buffer | null; value: Buffer | null }>(
  items: T[],
  maxBytes: number,
): Generator<T[]> {
  let chunk: T[] = []
  let bytes = 0
  for (const item of items) {
    const size = (item.key?.length ?? 0) + (item.value?.length ?? 0) + 64
    if (chunk.length > 0 && bytes + size > maxBytes) {
      yield chunk
      chunk = []
      bytes = 0
    }
    chunk.push(item)
    bytes += size
  }
  if (chunk.length > 0) yield chunk
}

function toRawRecord(message: Message): RawRecord {
  const headers = new Map<string, Buffer>()
  for (const [k, v] of message.headers) headers.set(k.toString(), v)
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key === undefined || message.key === null || message.key.length === 0 ? null : message.key,
    value: message.value === undefined || message.value === null || message.value.length === 0 ? null : message.value,
    timestampMs: Number(message.timestamp),
    headers,
  }
}

/** topic\0partition → the base offset of the last batch written there: a safe (low) resume point. */
function lowerBoundOffsets(offsets: { topic: string; partition: number; offset: bigint }[]): Map<string, bigint> {
  const out = new Map<string, bigint>()
  for (const o of offsets) {
    const key = `${o.topic}\u0000${o.partition}`
    const prev = out.get(key)
    if (prev === undefined || o.offset > prev) out.set(key, o.offset)
  }
  return out
}
