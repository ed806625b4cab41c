/**
 * The worker runtime: one consumer-group member per category (`<prefix>-workers-<category>`, read_committed),
 * a dispatch queue ordered by priority, limits, and an at-least-once commit loop.
 *
 * Delivery and commits. Every fetched record is tracked per partition; its offset becomes committable only after
 * the attempt's terminal result (and its log lines) were acknowledged by Kafka, and the committed offset is the
 * one after the lowest contiguous finished record (offset-tracker.ts). So:
 * - a crash (kill -9) redelivers, to whichever member owns the partition next, every execution without a
 *   committed terminal result, with the same executionId and attempt; the scheduler counts only the first
 *   terminal result of an attempt, so one that ran to completion twice is counted once;
 * - a redelivery to this same process of an attempt it is running or has finished (the client re-fetches from
 *   the committed offset after every rebalance) never runs it again: it joins the running one, or is marked done.
 *
 * Rebalances (the client rejoins at once and has no blocking revoke callback): on `group:rebalance` this member
 * stops starting executions of that category; on `group:join` it drops the queued ones (re-fetched from the
 * committed offset), aborts running attempts of partitions it lost (reason `revoked`: no result unless they
 * succeeded anyway; the new owner runs the attempt), and starts records of partitions it gained only after
 * `rebalanceHandoverMs`, the time the previous owner has to abort its copies. A handler that ignores its signal
 * longer than that can overlap with the new owner's run: the one case of two concurrent runs in a group.
 *
 * Shutdown (`close`): stop fetching, drop the queue, let running attempts finish for `shutdownGraceMs`, abort the
 * rest (FAILED, retriable: the scheduler retries them), produce, commit, leave the group.
 */
import { EventEmitter } from 'node:events'
import {
  Consumer,
  FetchIsolationLevels,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type Producer,
} from '@platformatic/kafka'
import { coerceError, ErrorCodes, type FlextaskError } from '../errors.ts'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { Logger } from '../logger.ts'
import type { DeadLetter } from '../schemas/dead-letter.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskLog } from '../schemas/task-log.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import { topicNames, type TopicNames, workerGroupId } from '../topics.ts'
import { decideError } from '../topology/kafka-errors.ts'
import { partitionForKey } from '../topology/partitioner.ts'
import { type AttemptLimits, defaultAttemptLimits, type RunningAttempt, runAttempt } from './attempt-runner.ts'
import { DispatchQueue } from './dispatch-queue.ts'
import type { HandlerRegistry } from './handler.ts'
import { defaultLimits, Limiter, type WorkerLimits } from './limits.ts'
import { OffsetTracker } from './offset-tracker.ts'

export interface WorkerSerde<T> {
  serialize(value: T): Buffer
  deserialize(bytes: Buffer): Promise<T> | T
}

export interface WorkerSerdes {
  execution: WorkerSerde<TaskExecution>
  result: WorkerSerde<TaskResult>
  log: WorkerSerde<TaskLog>
  deadLetter: WorkerSerde<DeadLetter>
}

export interface WorkerOptions {
  /** Reported in every result as workerId. */
  workerId: string
  /** Builds every Kafka client (connection and security from the kafka config section). */
  kafka: KafkaClientFactory
  /** @default flextask */
  topicPrefix?: string
  /** The categories this process consumes: one group membership each. */
  categories: string[]
  handlers: HandlerRegistry
  serdes: WorkerSerdes
  logger: Logger
  limits?: Partial<WorkerLimits>
  attempt?: Partial<AttemptLimits>
  /** Executions fetched and not started, over all categories; fetching pauses above it. @default 1000 */
  maxQueuedExecutions?: number
  /** How long running attempts may finish on close before they are aborted. @default 10000 */
  shutdownGraceMs?: number
  /** Delay before starting records of a partition gained in a rebalance (see header). @default 1000 */
  rebalanceHandoverMs?: number
  /** @default 10000 */
  sessionTimeoutMs?: number
  /** @default 1000 */
  heartbeatIntervalMs?: number
  /** Spacing of offset commits while attempts finish. @default 100 */
  commitIntervalMs?: number
  nowMs?: () => number
}

type Resolved = Required<Omit<WorkerOptions, 'limits' | 'attempt' | 'nowMs'>> & {
  limits: WorkerLimits
  attempt: AttemptLimits
  nowMs: () => number
}

interface CategoryMember {
  category: string
  topic: string
  consumer: Consumer
  stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  generation: number
  tracker: OffsetTracker
  assigned: Set<number>
  rebalancing: boolean
  /** partition → wall-clock ms before which its records are not started (handover after a rebalance). */
  handoverUntil: Map<number, number>
}

/** Where one delivery of an attempt sits: a tracker of one generation. */
interface Delivery {
  member: CategoryMember
  generation: number
  partition: number
  offset: bigint
}

interface Pending {
  key: string
  /** The member and partition it was fetched from (fixed by its key). */
  member: CategoryMember
  partition: number
  execution: TaskExecution
  deliveries: Delivery[]
  priority: number
  dueAtMs: number
  seq: number
  running?: RunningAttempt
}

/** Events: 'result' (TaskResult produced), 'started' (execution, startedAtMs), 'error' (fatal). */
export class WorkerRuntime extends EventEmitter {
  readonly #o: Resolved
  readonly #topics: TopicNames
  readonly #members: CategoryMember[] = []
  readonly #producer: Producer
  readonly #limiter: Limiter
  readonly #queue = new DispatchQueue<Pending>()
  readonly #queuedByKey = new Map<string, Pending>()
  readonly #running = new Map<string, Pending>()
  /** (executionId:attempt) finished here and not yet known committed: a redelivery is marked done, not run. */
  readonly #finished = new Map<string, true>()
  #seq = 0
  #resultPartitions = 0
  #logPartitions = 0
  #decodeChain: Promise<void> = Promise.resolve()
  readonly #outbox: {
    message: { topic: string; partition: number; key: Buffer; value: Buffer }
    resolve: () => void
    reject: (error: unknown) => void
  }[] = []
  #flushing = 0
  #pumpTimer: NodeJS.Timeout | undefined
  #pumpAtMs = Infinity
  #commitTimer: NodeJS.Timeout | undefined
  #paused = false
  #stopping = false
  #started = false
  #closing: Promise<void> | undefined
  #fatal: FlextaskError | undefined
  readonly stats = { started: 0, succeeded: 0, failed: 0, timedOut: 0, commits: 0 }

  constructor(options: WorkerOptions) {
    super()
    this.#o = {
      topicPrefix: 'flextask',
      maxQueuedExecutions: 1000,
      shutdownGraceMs: 10_000,
      rebalanceHandoverMs: 1000,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1000,
      commitIntervalMs: 100,
      nowMs: Date.now,
      ...options,
      limits: { ...defaultLimits, ...options.limits },
      attempt: { ...defaultAttemptLimits, ...options.attempt },
    }
    this.#topics = topicNames(this.#o.topicPrefix)
    this.#limiter = new Limiter(this.#o.limits)
    this.#producer = this.#o.kafka.producer({
      clientId: `${this.#o.workerId}-worker-producer`,
      idempotent: true,
      retries: 10,
      retryDelay: 100,
    })
  }

  /** Executions fetched and waiting to start. */
  get queued(): number {
    return this.#queue.size
  }

  /** Executions running now. */
  get runningCount(): number {
    return this.#running.size
  }

  get topics(): TopicNames {
    return this.#topics
  }

  health(): { live: boolean; ready: boolean; reasons: string[] } {
    const reasons: string[] = []
    if (this.#fatal) reasons.push(`stopped: ${this.#fatal.message}`)
    if (!this.#started) reasons.push('not started')
    for (const m of this.#members) if (m.generation < 0) reasons.push(`${m.category}: not in its group yet`)
    return { live: this.#fatal === undefined, ready: reasons.length === 0, reasons }
  }

  /** Ensures the logs topic, joins one group per category and starts fetching. */
  async start(): Promise<void> {
    await this.#discoverPartitions()
    for (const category of this.#o.categories) this.#members.push(await this.#join(category))
    this.#started = true
  }

  /** Graceful shutdown (see header). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #discoverPartitions(): Promise<void> {
    const admin = this.#o.kafka.admin(`${this.#o.workerId}-worker-admin`)
    try {
      const results = await admin.metadata({ topics: [this.#topics.results] })
      this.#resultPartitions = results.topics.get(this.#topics.results)?.partitionsCount ?? 0
      if (this.#resultPartitions === 0) throw new Error(`topic ${this.#topics.results} does not exist`)
      const existing = new Set(await admin.listTopics())
      if (!existing.has(this.#topics.logs)) {
        await admin
          .createTopics({
            topics: [this.#topics.logs],
            partitions: this.#resultPartitions,
            replicas: -1,
            configs: [{ name: 'retention.ms', value: String(7 * 86_400_000) }],
          })
          .catch(() => undefined) // created meanwhile by another process; checked below
      }
      const logs = await admin.metadata({ topics: [this.#topics.logs] })
      this.#logPartitions = logs.topics.get(this.#topics.logs)?.partitionsCount ?? 0
      const missing = this.#o.categories.map(this.#topics.executions).filter((t) => !existing.has(t))
      if (missing.length > 0)
        throw new Error(`executions topics missing: ${missing.join(', ')} (start the scheduler first)`)
    } finally {
      await admin.close()
    }
  }

  async #join(category: string): Promise<CategoryMember> {
    // Built from the factory's connection: the factory's consumer() type drops the group options (Omit on a union).
    const consumer = new Consumer({
      ...this.#o.kafka.connection,
      clientId: `${this.#o.workerId}-worker-${category}`,
      groupId: workerGroupId(category, this.#o.topicPrefix),
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      sessionTimeout: this.#o.sessionTimeoutMs,
      heartbeatInterval: this.#o.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(this.#o.sessionTimeoutMs, 10_000),
      maxWaitTime: 100,
      highWaterMark: 256,
      maxBytes: 4 * 1024 * 1024,
    })
    const member: CategoryMember = {
      category,
      topic: this.#topics.executions(category),
      consumer,
      stream: undefined,
      generation: -1,
      tracker: new OffsetTracker(),
      assigned: new Set(),
      rebalancing: true,
      handoverUntil: new Map(),
    }
    consumer.on('consumer:group:rebalance', () => {
      member.rebalancing = true
    })
    consumer.on(
      'consumer:group:join',
      (event: { generationId?: number; assignments?: { topic: string; partitions: number[] }[] }) =>
        this.#onJoin(member, event.generationId ?? -1, event.assignments ?? []),
    )
    await this.#openStream(member)
    return member
  }

  /** (Re)opens the member's fetch stream from the committed offsets. */
  async #openStream(member: CategoryMember): Promise<void> {
    const stream = await member.consumer.consume({
      topics: [member.topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    })
    member.stream = stream
    stream.on('data', (message: Message<Buffer, Buffer, Buffer, Buffer>) => this.#onRecord(member, message))
    stream.on('error', (error: unknown) => void this.#onStreamError(member, stream, error))
  }

  /**
   * A fetch stream failed. A transient Kafka failure (the broker stopped or restarting: "fetch failed 4 times",
   * connection closed) is waited out: the stream is re-opened from the committed offsets with a backoff of 200 ms
   * doubling to 5 s, and a redelivered execution runs again (at-least-once). Anything else is fatal. Issue 15: the
   * fault suite's broker restart used to stop every worker here.
   */
  async #onStreamError(member: CategoryMember, failed: unknown, error: unknown): Promise<void> {
    if (member.stream !== failed || this.#stopping || this.#fatal) return
    let coded = decideError(error, ErrorCodes.unknown)
    await member.stream?.close().catch(() => undefined)
    for (let attempt = 1; coded.retriable; attempt++) {
      const delayMs = Math.min(5_000, 200 * 2 ** Math.min(attempt - 1, 10))
      this.#o.logger.warn(
        { category: member.category, attempt, delayMs, error: coded.message },
        'worker: fetch stream failed; re-opening it',
      )
      await sleep(delayMs)
      if (this.#stopping || this.#fatal) return
      try {
        await this.#openStream(member)
        this.#o.logger.info({ category: member.category, attempts: attempt }, 'worker: fetch stream re-opened')
        return
      } catch (reopenError) {
        coded = decideError(reopenError, ErrorCodes.unknown)
      }
    }
    this.#fail(coded)
  }

  #onJoin(member: CategoryMember, generation: number, assignments: { topic: string; partitions: number[] }[]): void {
    const now = this.#o.nowMs()
    const mine = new Set(assignments.find((a) => a.topic === member.topic)?.partitions ?? [])
    const previous = member.assigned
    member.generation = generation
    member.tracker = new OffsetTracker()
    member.assigned = mine
    member.rebalancing = false
    // Queued records of this member are fetched again from the committed offset under the new generation.
    for (const p of this.#queue.removeWhere((p) => p.deliveries.every((d) => d.member === member))) {
      this.#queuedByKey.delete(p.key)
    }
    for (const p of this.#running.values()) {
      p.deliveries = p.deliveries.filter((d) => d.member !== member)
      if (p.member === member && !mine.has(p.partition)) p.running?.abort('revoked')
    }
    member.handoverUntil.clear()
    const first = previous.size === 0 && generation >= 0
    for (const p of mine) {
      if (!previous.has(p) && !first) member.handoverUntil.set(p, now + this.#o.rebalanceHandoverMs)
    }
    this.#o.logger.info(
      { category: member.category, generation, partitions: [...mine] },
      `worker ${member.category}: assigned partitions ${[...mine].join(',') || '(none)'}`,
    )
    this.#schedulePump(now)
  }

  #onRecord(member: CategoryMember, message: Message<Buffer, Buffer, Buffer, Buffer>): void {
    if (this.#stopping) return
    const delivery: Delivery = {
      member,
      generation: member.generation,
      partition: message.partition,
      offset: message.offset,
    }
    member.tracker.track(message.partition, message.offset, message.leaderEpoch)
    this.#decodeChain = this.#decodeChain.then(async () => {
      const execution = await this.#decode(member, message)
      if (execution === 'dead-lettered') this.#markDone(delivery)
      else if (execution !== undefined) this.#accept(delivery, execution)
      // undefined: stopping while the registry was away; the offset stays uncommitted, so it is redelivered.
    })
    if (this.#queue.size + 1 >= this.#o.maxQueuedExecutions && !this.#paused) {
      this.#paused = true
      for (const m of this.#members) m.stream?.pause()
    }
  }

  /**
   * Decodes one execution. A transient failure (registry away) is waited out with backoff — good input is never
   * dropped; bad bytes (undecodable, unknown schema id) go to the dead-letter topic with their reason, and only
   * once that record is acknowledged does the execution count as done.
   */
  async #decode(
    member: CategoryMember,
    message: Message<Buffer, Buffer, Buffer, Buffer>,
  ): Promise<TaskExecution | 'dead-lettered' | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (message.value === null || message.value === undefined) throw new Error('null value')
        return await this.#o.serdes.execution.deserialize(message.value)
      } catch (error) {
        const e = coerceError(error, ErrorCodes.serdeDecode)
        const where = { topic: member.topic, partition: message.partition, offset: String(message.offset) }
        if (e.retriable) {
          if (this.#stopping) return undefined
          const delayMs = Math.min(5_000, 200 * 2 ** Math.min(attempt, 5))
          this.#o.logger.warn({ ...where, code: e.code, delayMs }, `worker: decoding waits out: ${e.message}`)
          await new Promise((resolve) => setTimeout(resolve, delayMs))
          continue
        }
        this.#o.logger.error(
          { ...where, code: e.code },
          `worker: dead-lettering an undecodable execution: ${e.message}`,
        )
        for (let sendAttempt = 0; ; sendAttempt++) {
          try {
            await this.#deadLetter(member.topic, message, e)
            return 'dead-lettered'
          } catch (sendError) {
            if (this.#stopping) return undefined
            const delayMs = Math.min(5_000, 200 * 2 ** Math.min(sendAttempt, 5))
            this.#o.logger.warn(
              { ...where, delayMs },
              `worker: dead letter not produced yet: ${coerceError(sendError).message}`,
            )
            await new Promise((resolve) => setTimeout(resolve, delayMs))
          }
        }
      }
    }
  }

  async #deadLetter(
    topic: string,
    message: Message<Buffer, Buffer, Buffer, Buffer>,
    error: FlextaskError,
  ): Promise<void> {
    const key = message.key ?? null
    const deadLetter: DeadLetter = {
      sourceTopic: topic,
      sourcePartition: message.partition,
      sourceOffset: Number(message.offset),
      key,
      originalValue: message.value ?? null,
      reasonCode: error.code === ErrorCodes.serdeUnknownSchema ? 'UNKNOWN_SCHEMA' : 'UNDECODABLE',
      message: `worker: ${error.message}`,
      failedAtMs: Date.now(),
      taskId: key?.toString('utf8') ?? null,
      executionId: null,
    }
    await this.#producer.send({
      messages: [
        {
          topic: this.#topics.deadLetter,
          key: key ?? undefined,
          value: this.#o.serdes.deadLetter.serialize(deadLetter),
        },
      ],
    })
  }

  #accept(delivery: Delivery, execution: TaskExecution): void {
    if (delivery.generation !== delivery.member.generation || this.#stopping) return
    const key = `${execution.executionId}#${execution.attempt}`
    const running = this.#running.get(key)
    if (running !== undefined) {
      running.deliveries.push(delivery)
      return
    }
    if (this.#finished.has(key)) {
      this.#markDone(delivery)
      return
    }
    const queued = this.#queuedByKey.get(key)
    if (queued !== undefined) {
      queued.deliveries.push(delivery)
      return
    }
    const pending: Pending = {
      key,
      member: delivery.member,
      partition: delivery.partition,
      execution,
      deliveries: [delivery],
      priority: execution.priority,
      dueAtMs: execution.dueAtMs,
      seq: this.#seq++,
    }
    this.#queue.push(pending)
    this.#queuedByKey.set(key, pending)
    this.#schedulePump(this.#o.nowMs())
  }

  #schedulePump(atMs: number): void {
    if (this.#stopping) return
    if (this.#pumpTimer !== undefined && this.#pumpAtMs <= atMs) return
    clearTimeout(this.#pumpTimer)
    this.#pumpAtMs = atMs
    this.#pumpTimer = setTimeout(
      () => {
        this.#pumpTimer = undefined
        this.#pumpAtMs = Infinity
        this.#pump()
      },
      Math.max(0, atMs - this.#o.nowMs()),
    )
  }

  /** Starts every queued execution the limits allow, in priority order; plans the next pump. */
  #pump(): void {
    if (this.#stopping) return
    const now = this.#o.nowMs()
    let nextAt = Infinity
    const started = new Set<Pending>()
    const toStart: [Pending, () => void][] = []
    for (const p of this.#queue.view()) {
      if (this.#limiter.running >= this.#o.limits.concurrency) break
      const delivery = p.deliveries[0]
      if (delivery === undefined) continue
      if (delivery.member.rebalancing) continue
      const handover = delivery.member.handoverUntil.get(delivery.partition) ?? 0
      if (handover > now) {
        nextAt = Math.min(nextAt, handover)
        continue
      }
      if (p.execution.deadlineAtMs !== null && p.execution.deadlineAtMs <= now) {
        started.add(p)
        toStart.push([p, () => undefined])
        continue
      }
      const acquired = this.#limiter.tryAcquire(
        { category: p.execution.category, type: p.execution.type, tenant: p.execution.tenant, priority: p.priority },
        now,
      )
      if (!acquired.ok) {
        if (acquired.retryAtMs !== undefined) nextAt = Math.min(nextAt, acquired.retryAtMs)
        continue
      }
      started.add(p)
      toStart.push([p, acquired.release])
    }
    this.#queue.removeAll(started)
    for (const [p, release] of toStart) {
      this.#queuedByKey.delete(p.key)
      this.#start(p, release)
    }
    if (nextAt < Infinity) this.#schedulePump(nextAt)
    if (this.#paused && this.#queue.size < this.#o.maxQueuedExecutions / 2) {
      this.#paused = false
      for (const m of this.#members) m.stream?.resume()
    }
  }

  #start(p: Pending, release: () => void): void {
    this.#running.set(p.key, p)
    const handler = this.#o.handlers.get(p.execution.category, p.execution.type)
    const writes: Promise<void>[] = []
    const attempt = runAttempt(p.execution, handler, {
      workerId: this.#o.workerId,
      nowMs: this.#o.nowMs,
      limits: this.#o.attempt,
      sinks: {
        started: (result) => writes.push(this.#produceResult(result)),
        log: (line) => writes.push(this.#produceLog(line)),
      },
    })
    p.running = attempt
    this.stats.started++
    this.emit('started', p.execution, attempt.startedAtMs)
    void attempt.settled.then(() => {
      release()
      this.#schedulePump(this.#o.nowMs())
    })
    void attempt.done
      .then(async (result) => {
        // STARTED and the log lines are acknowledged before the terminal result is queued (it follows them).
        await Promise.all(writes)
        if (result !== undefined) await this.#produceResult(result)
        this.#running.delete(p.key)
        if (result === undefined) return // revoked: the new owner reports
        this.#count(result)
        this.#finished.set(p.key, true)
        if (this.#finished.size > 20_000) this.#finished.delete(this.#finished.keys().next().value as string)
        for (const d of p.deliveries) this.#markDone(d)
        this.emit('result', result, p.execution.category)
      })
      .catch((error: unknown) => this.#fail(coerceError(error)))
  }

  #count(result: TaskResult): void {
    if (result.status === 'SUCCEEDED') this.stats.succeeded++
    else if (result.status === 'TIMED_OUT') this.stats.timedOut++
    else this.stats.failed++
  }

  #produceResult(result: TaskResult): Promise<void> {
    return this.#send(
      this.#topics.results,
      this.#resultPartitions,
      result.taskId,
      this.#o.serdes.result.serialize(result),
    )
  }

  #produceLog(line: TaskLog): Promise<void> {
    return this.#send(this.#topics.logs, this.#logPartitions, line.taskId, this.#o.serdes.log.serialize(line))
  }

  /**
   * Queues one record for the next produce request. Up to `maxProduceRequestsInFlight` requests are in flight,
   * each carrying everything queued meanwhile, so a busy worker sends a few large requests instead of one per
   * record. Order between requests is not relied on: an attempt's terminal result is queued only after its
   * STARTED and log lines were acknowledged. Resolves once Kafka acknowledged the record.
   */
  #send(topic: string, partitions: number, taskId: string, value: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // The results topic is co-partitioned with definitions: the Java default partitioner, as the contract says.
      this.#outbox.push({
        message: { topic, partition: partitionForKey(taskId, partitions), key: Buffer.from(taskId), value },
        resolve,
        reject,
      })
      if (this.#flushing < maxProduceRequestsInFlight) void this.#flush()
    })
  }

  /**
   * Sends the outbox. A transient Kafka failure (the broker stopped or restarting) is waited out with the records
   * kept, 200 ms doubling to 5 s, and the batch sent again: a result is never dropped, and one sent twice is
   * absorbed downstream by (executionId, attempt). Issue 15: the fault suite's broker restart used to stop the
   * worker on the first failed send.
   */
  async #flush(): Promise<void> {
    this.#flushing++
    let retries = 0
    try {
      while (this.#outbox.length > 0) {
        const batch = this.#outbox.splice(0, 5000)
        try {
          await this.#producer.send({ messages: batch.map((b) => b.message) })
          for (const b of batch) b.resolve()
          retries = 0
        } catch (error) {
          const coded = decideError(error, ErrorCodes.unknown)
          if (!coded.retriable || this.#stopping) {
            for (const b of batch) b.reject(error)
            continue
          }
          this.#outbox.unshift(...batch)
          const delayMs = Math.min(5_000, 200 * 2 ** Math.min(retries++, 10))
          this.#o.logger.warn(
            { records: batch.length, attempt: retries, delayMs, error: coded.message },
            'worker: producing results failed; retrying',
          )
          await sleep(delayMs)
        }
      }
    } finally {
      this.#flushing--
    }
  }

  #markDone(d: Delivery): void {
    if (d.generation !== d.member.generation) return
    d.member.tracker.done(d.partition, d.offset)
    this.#scheduleCommit()
  }

  #scheduleCommit(): void {
    if (this.#commitTimer !== undefined) return
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined
      this.#commit().catch((error: unknown) => this.#fail(coerceError(error)))
    }, this.#o.commitIntervalMs)
  }

  async #commit(): Promise<void> {
    for (const m of this.#members) {
      const generation = m.generation
      const tracker = m.tracker
      // Only partitions this member still owns: never move another owner's offset.
      const ready = tracker.takeReady().filter((e) => m.assigned.has(e.partition))
      if (ready.length === 0) continue
      try {
        await m.consumer.commit({
          offsets: ready.map((e) => ({
            topic: m.topic,
            partition: e.partition,
            offset: e.offset,
            leaderEpoch: e.leaderEpoch,
          })),
        })
        this.stats.commits++
      } catch (error) {
        this.#o.logger.warn(
          { category: m.category, error: coerceError(error).message },
          'worker: offset commit failed; retrying with the next commit',
        )
        if (m.generation === generation) {
          tracker.restore(ready)
          this.#scheduleCommit()
        }
      }
    }
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true
    clearTimeout(this.#pumpTimer)
    this.#queue.removeWhere(() => true)
    this.#queuedByKey.clear()
    for (const m of this.#members) m.stream?.pause()
    const deadline = this.#o.nowMs() + this.#o.shutdownGraceMs
    while (this.#running.size > 0 && this.#o.nowMs() < deadline) await sleep(20)
    if (this.#running.size > 0) {
      this.#o.logger.warn({ running: this.#running.size }, 'worker: grace period over; aborting running executions')
      for (const p of this.#running.values()) p.running?.abort('shutdown')
    }
    while (this.#running.size > 0) await sleep(20)
    clearTimeout(this.#commitTimer)
    this.#commitTimer = undefined
    await this.#commit().catch(() => undefined)
    for (const m of this.#members) {
      await m.stream?.close().catch(() => undefined)
      await m.consumer.close(true).catch(() => undefined)
    }
    await this.#producer.close().catch(() => undefined)
  }

  #fail(error: FlextaskError): void {
    if (this.#fatal || this.#stopping) return
    this.#fatal = error
    this.#o.logger.error({ code: error.code }, `worker: fatal: ${error.message}`)
    this.emit('error', error)
  }
}

/** Produce requests in flight at once (the idempotent producer keeps per-partition order up to 5). */
const maxProduceRequestsInFlight = 4

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
