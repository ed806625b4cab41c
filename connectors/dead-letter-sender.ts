/**
 * Sends the sink's dead letters (undecodable records, rows Postgres refused) to the dead-letter topic and counts
 * them: awaited, so a record's offset only moves on once its dead letter is durable. A failed send throws
 * FLEXTASK_SINK_DEAD_LETTER_FAILED-coded (retriable per its cause); the runner waits it out.
 */
import type { Producer } from '@platformatic/kafka'
import { coerceError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { SinkMetrics } from '../metrics.ts'
import type { DeadLetter } from '../schemas/dead-letter.ts'
import type { SinkDecoders } from './record-decoder.ts'
import { SinkErrorCodes } from './sink-errors.ts'

export class DeadLetterSender {
  readonly #producer: Producer
  readonly #topic: string
  readonly #serdes: SinkDecoders['deadLetter']
  readonly #logger: Logger
  readonly #metrics: SinkMetrics | undefined

  constructor(
    producer: Producer,
    topic: string,
    serdes: SinkDecoders['deadLetter'],
    logger: Logger,
    metrics?: SinkMetrics,
  ) {
    this.#producer = producer
    this.#topic = topic
    this.#serdes = serdes
    this.#logger = logger
    this.#metrics = metrics
  }

  async send(deadLetters: DeadLetter[]): Promise<void> {
    try {
      await this.#producer.send({
        messages: deadLetters.map((value) => ({
          topic: this.#topic,
          key: value.key ?? undefined,
          value: this.#serdes.serialize(value),
        })),
      })
    } catch (error) {
      throw coerceError(error, SinkErrorCodes.deadLetter)
    }
    for (const value of deadLetters) {
      this.#metrics?.deadLetters.inc({ reason: value.reasonCode })
      this.#logger.warn(
        { topic: value.sourceTopic, partition: value.sourcePartition, offset: value.sourceOffset },
        `dead-lettered ${value.reasonCode}: ${value.message}`,
      )
    }
  }
}
