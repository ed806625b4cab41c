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

export class KafkaTaskWriter implements TaskWriter {
  readonly #deps: KafkaTaskWriterDeps

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

  async #send(topic: string, taskId: string, value: Buffer | null): Promise<WritePosition> {
    const partition = partitionForKey(taskId, this.#deps.partitions)
    let result
    try {
      result = await this.#deps.producer.send({
        messages: [{ topic, partition, key: Buffer.from(taskId), value: value as Buffer }],
        acks: -1,
      })
    } catch (error) {
      throw new FlextaskError(
        ApiErrorCodes.unavailable,
        `Kafka did not accept the write: ${coerceError(error).message}`,
        {
          cause: error,
          retriable: true,
          context: { topic, partition, taskId },
        },
      )
    }
    const written = result.offsets?.find((o) => o.topic === topic && o.partition === partition)
    if (written === undefined) {
      throw new FlextaskError(ErrorCodes.unknown, `the broker returned no offset for ${topic}/${partition}`)
    }
    return { topic, partition, offset: String(written.offset) }
  }

  async close(): Promise<void> {
    await this.#deps.producer.close()
  }
}
