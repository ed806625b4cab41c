/**
 * The write side of the API: every change is a record on Kafka, the source of truth. Definitions go to the
 * compacted definitions topic (a tombstone deletes), commands to the commands topic; both keyed by taskId on the
 * partition the Java client's default partitioner picks (murmur2, topology/partitioner.ts), because the scheduler
 * dead-letters a definition found on any other partition (WRONG_PARTITION).
 *
 * Each write resolves with the position (topic, partition, offset) the broker assigned, once acknowledged by all
 * in-sync replicas (acks = -1, idempotent producer): the API answers with it and waits for the projection to pass it.
 */
import type { Producer } from '@platformatic/kafka'
import { ErrorCodes, FlextaskError, coerceError } from '../errors.ts'
import type { AvroSerde } from '../schemas/avro-serde.ts'
import type { TaskCommand } from '../schemas/task-command.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { TopicNames } from '../topics.ts'
import { partitionForKey } from '../topology/partitioner.ts'
import { ApiErrorCodes } from './problems.ts'

export interface WritePosition {
  topic: string
  partition: number
  /** Decimal string: offsets are int64. */
  offset: string
}

export interface TaskWriter {
  putDefinition(definition: TaskDefinition): Promise<WritePosition>
  /** A tombstone on the definitions topic. */
  deleteDefinition(taskId: string): Promise<WritePosition>
  sendCommand(command: TaskCommand): Promise<WritePosition>
  close(): Promise<void>
}

export interface KafkaTaskWriterDeps {
  producer: Producer
  topics: Pick<TopicNames, 'definitions' | 'commands'>
  serdes: { definition: AvroSerde<TaskDefinition>; command: AvroSerde<TaskCommand> }
  /** Partition count of the (co-partitioned) definitions and commands topics, read from the cluster at start. */
  partitions: number
}

interface PendingWrite {
  topic: string
  partition: number
  taskId: string
  value: Buffer | null
  resolve: (position: WritePosition) => void
  reject: (error: Error) => void
}

/** Records per produce request, at most. */
const maxBatchRecords = 500

export class KafkaTaskWriter implements TaskWriter {
  readonly #deps: KafkaTaskWriterDeps
  readonly #queue: PendingWrite[] = []
  #inFlight = false

  constructor(deps: KafkaTaskWriterDeps) {
    this.#deps = deps
  }

  putDefinition(definition: TaskDefinition): Promise<WritePosition> {
    return this.#send(
      this.#deps.topics.definitions,
      definition.taskId,
      this.#deps.serdes.definition.serialize(definition),
    )
  }

  deleteDefinition(taskId: string): Promise<WritePosition> {
    return this.#send(this.#deps.topics.definitions, taskId, null)
  }

  sendCommand(command: TaskCommand): Promise<WritePosition> {
    return this.#send(this.#deps.topics.commands, command.taskId, this.#deps.serdes.command.serialize(command))
  }

  /**
   * Queues one record; records queued while a produce request is in flight go out together in the next one (one
   * request in flight, so batches grow with load). The broker answers each partition's base offset; records of a
   * partition are appended in the order sent, so the n-th record of a partition in a batch has base + n.
   */
  #send(topic: string, taskId: string, value: Buffer | null): Promise<WritePosition> {
    return new Promise((resolve, reject) => {
      this.#queue.push({
        topic,
        partition: partitionForKey(taskId, this.#deps.partitions),
        taskId,
        value,
        resolve,
        reject,
      })
      void this.#drain()
    })
  }

  async #drain(): Promise<void> {
    if (this.#inFlight || this.#queue.length === 0) return
    this.#inFlight = true
    const batch = this.#queue.splice(0, maxBatchRecords)
    try {
      const result = await this.#deps.producer.send({
        messages: batch.map((w) => ({
          topic: w.topic,
          partition: w.partition,
          key: Buffer.from(w.taskId),
          value: w.value as Buffer,
        })),
        acks: -1,
      })
      const next = new Map((result.offsets ?? []).map((o) => [`${o.topic}:${o.partition}`, o.offset]))
      for (const write of batch) {
        const at = `${write.topic}:${write.partition}`
        const offset = next.get(at)
        if (offset === undefined) {
          write.reject(new FlextaskError(ErrorCodes.unknown, `the broker returned no offset for ${at}`))
          continue
        }
        next.set(at, offset + 1n)
        write.resolve({ topic: write.topic, partition: write.partition, offset: String(offset) })
      }
    } catch (error) {
      for (const write of batch) {
        write.reject(
          new FlextaskError(
            ApiErrorCodes.unavailable,
            `Kafka did not accept the write: ${coerceError(error).message}`,
            {
              cause: error,
              retriable: true,
              context: { topic: write.topic, partition: write.partition, taskId: write.taskId },
            },
          ),
        )
      }
    } finally {
      this.#inFlight = false
      void this.#drain()
    }
  }

  async close(): Promise<void> {
    await this.#deps.producer.close()
  }
}
