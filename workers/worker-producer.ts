/**
 * Everything a worker writes to Kafka, through one idempotent producer: STARTED and terminal results, log lines
 * (both keyed by taskId, to partitionForKey — the results topic is co-partitioned with definitions, so the Java
 * default partitioner, as the contract says) and dead letters. Before the first write, `prepare` finds the
 * partition counts, creates the logs topic when missing and checks that the executions topics exist.
 *
 * Batching: a record is queued for the next produce request; up to `maxProduceRequestsInFlight` requests are in
 * flight, each carrying everything queued meanwhile, so a busy worker sends a few large requests instead of one
 * per record. Order between requests is not relied on: the runtime queues an attempt's terminal result only after
 * its STARTED and log lines were acknowledged.
 */
import type { Producer } from '@platformatic/kafka'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { DeadLetter } from '../schemas/dead-letter.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskLog } from '../schemas/task-log.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import type { TopicNames } from '../topics.ts'
import { partitionForKey } from '../topology/partitioner.ts'

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

/** Produce requests in flight at once (the idempotent producer keeps per-partition order up to 5). */
const maxProduceRequestsInFlight = 4
/** Records per produce request at most. */
const maxBatchRecords = 5000
/** Retention of the logs topic when the worker creates it. */
const logsRetentionMs = 7 * 86_400_000

interface Queued {
  message: { topic: string; partition?: number; key?: Buffer; value: Buffer }
  resolve: () => void
  reject: (error: unknown) => void
}

export class WorkerProducer {
  readonly #kafka: KafkaClientFactory
  readonly #workerId: string
  readonly #topics: TopicNames
  readonly #serdes: WorkerSerdes
  readonly #producer: Producer
  readonly #outbox: Queued[] = []
  #flushing = 0
  #resultPartitions = 0
  #logPartitions = 0

  constructor(options: { kafka: KafkaClientFactory; workerId: string; topics: TopicNames; serdes: WorkerSerdes }) {
    this.#kafka = options.kafka
    this.#workerId = options.workerId
    this.#topics = options.topics
    this.#serdes = options.serdes
    this.#producer = options.kafka.producer({
      clientId: `${options.workerId}-worker-producer`,
      idempotent: true,
      retries: 10,
      retryDelay: 100,
    })
  }

  /** Reads the partition counts, ensures the logs topic and fails when an executions topic is missing. */
  async prepare(categories: readonly string[]): Promise<void> {
    const admin = this.#kafka.admin(`${this.#workerId}-worker-admin`)
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
            configs: [{ name: 'retention.ms', value: String(logsRetentionMs) }],
          })
          .catch(() => undefined) // created meanwhile by another process; checked below
      }
      const logs = await admin.metadata({ topics: [this.#topics.logs] })
      this.#logPartitions = logs.topics.get(this.#topics.logs)?.partitionsCount ?? 0
      const missing = categories.map(this.#topics.executions).filter((t) => !existing.has(t))
      if (missing.length > 0)
        throw new Error(`executions topics missing: ${missing.join(', ')} (start the scheduler first)`)
    } finally {
      await admin.close()
    }
  }

  /** Resolves once Kafka acknowledged the result. */
  result(result: TaskResult): Promise<void> {
    return this.#keyed(this.#topics.results, this.#resultPartitions, result.taskId, this.#serdes.result.serialize(result))
  }

  /** Resolves once Kafka acknowledged the log line. */
  log(line: TaskLog): Promise<void> {
    return this.#keyed(this.#topics.logs, this.#logPartitions, line.taskId, this.#serdes.log.serialize(line))
  }

  /** Resolves once Kafka acknowledged the dead letter (keyed by the original key, if any). */
  deadLetter(deadLetter: DeadLetter): Promise<void> {
    const value = this.#serdes.deadLetter.serialize(deadLetter)
    const key = deadLetter.key ?? undefined
    return this.#enqueue({ topic: this.#topics.deadLetter, ...(key === undefined ? {} : { key }), value })
  }

  close(): Promise<void> {
    return this.#producer.close()
  }

  #keyed(topic: string, partitions: number, taskId: string, value: Buffer): Promise<void> {
    return this.#enqueue({ topic, partition: partitionForKey(taskId, partitions), key: Buffer.from(taskId), value })
  }

  #enqueue(message: Queued['message']): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#outbox.push({ message, resolve, reject })
      if (this.#flushing < maxProduceRequestsInFlight) void this.#flush()
    })
  }

  async #flush(): Promise<void> {
    this.#flushing++
    try {
      while (this.#outbox.length > 0) {
        const batch = this.#outbox.splice(0, maxBatchRecords)
        try {
          await this.#producer.send({ messages: batch.map((b) => b.message) })
          for (const b of batch) b.resolve()
        } catch (error) {
          for (const b of batch) b.reject(error)
        }
      }
    } finally {
      this.#flushing--
    }
  }
}
