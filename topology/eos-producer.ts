/**
 * The transactional producer of one runtime instance (≈ Kafka Streams' StreamsProducer): one transaction per
 * cycle, sent in bounded chunks, with the consumed offsets committed inside it (KIP-447), and a fresh producer
 * session after every abort. Every workaround for @platformatic/kafka 2.12.1 lives here, each with its reason
 * (README "Known limits" points here):
 *
 * 1. InitProducerId is sent with producer id / epoch −1. The client otherwise sends 0 / 0, which the broker
 *    reads as "expected producer 0" (KIP-360) and answers PRODUCER_FENCED as soon as the transactional id
 *    already has state, i.e. on every restart of an instance.
 * 2. Sends are chunked under MAX_SEND_BYTES: the client writes one record batch per partition and send, and
 *    the broker refuses batches over max.message.bytes (1 MiB by default).
 * 3. After an aborted transaction the producer is replaced: a failed produce leaves the idempotent
 *    producer's sequence numbers ahead of the broker's; a new session (InitProducerId bumps the epoch) is
 *    what the Java client does after an abortable error.
 * 4. retryDelay 20 ms: the broker answers CONCURRENT_TRANSACTIONS to AddPartitionsToTxn right after a commit
 *    while it writes the markers; the client's default 1 s retry delay turned that into 1 s commit stalls.
 * 5. AddOffsetsToTxn / TxnOffsetCommit / EndTxn are bounded by the transaction timeout: after a process was
 *    frozen past its session, TxnOffsetCommit with the stale generation was seen never to answer.
 * 6. TxnOffsetCommit calls are sequential: concurrent addOffset calls are coalesced by the client
 *    (dependencies.md §1.9).
 * 7. An empty transaction is cancelled locally: the broker refuses EndTxn for a transaction with nothing in it.
 */
import { type Consumer, type Message, Producer, type ProducerOptions } from '@platformatic/kafka'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import { decideError } from './kafka-errors.ts'

export const MAX_SEND_BYTES = 512 * 1024

/** A record of the cycle's transaction. */
export interface TransactionRecord {
  topic: string
  partition: number
  key: Buffer | null
  value: Buffer | null
  timestampMs: number
  headers?: ReadonlyMap<string, Buffer>
}

export interface EosProducerOptions {
  applicationId: string
  instanceId: string
  bootstrapBrokers: string[]
  transactionTimeoutMs: number
  /** SASL / TLS options of every client. */
  connection?: Pick<ProducerOptions<Buffer, Buffer, Buffer, Buffer>, 'sasl' | 'tls' | 'tlsServerName'>
}

type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>

export class EosProducer {
  readonly #options: EosProducerOptions
  #producer: Producer

  constructor(options: EosProducerOptions) {
    this.#options = options
    this.#producer = this.#create()
  }

  #create(): Producer {
    const o = this.#options
    return new Producer({
      ...o.connection,
      clientId: `${o.instanceId}-producer`,
      bootstrapBrokers: o.bootstrapBrokers,
      idempotent: true,
      transactionalId: `${o.applicationId}-${o.instanceId}`,
      timeout: o.transactionTimeoutMs,
      retries: 10,
      retryDelay: 20, // workaround 4
    })
  }

  /**
   * InitProducerId with our transactional id before anything is restored: it aborts a transaction our
   * previous incarnation left open (kill -9 mid-cycle) at once, instead of after the transaction timeout,
   * which would otherwise hold the new owner's stable-offset wait for up to that long.
   */
  async fencePreviousSession(): Promise<void> {
    const transaction = await this.#begin()
    await transaction.cancel() // workaround 7
  }

  #begin(): Promise<Transaction> {
    return this.#producer.beginTransaction({ producerId: -1n, producerEpoch: -1 }) // workaround 1
  }

  /**
   * Runs one transaction: sends the records, commits `offsets` (messages as the consumer delivered them, or
   * fencing offsets) for `consumer`'s group, commits. Returns topic\0partition → the base offset of the last
   * batch written there (a safe, low resume point for restore). On any failure the transaction is aborted,
   * the producer replaced, and the error is thrown as a FlextaskError (decideError).
   */
  async commit(
    records: readonly TransactionRecord[],
    consumer: Consumer,
    offsets: Message[],
  ): Promise<Map<string, bigint>> {
    let transaction: Transaction | undefined
    const written = new Map<string, bigint>()
    try {
      transaction = await this.#begin()
      for (const chunk of chunksOfBytes(records, MAX_SEND_BYTES)) {
        const result = await transaction.send({ messages: chunk.map(toMessage) })
        for (const o of result.offsets ?? []) {
          const key = `${o.topic}\u0000${o.partition}`
          if (o.offset > (written.get(key) ?? -1n)) written.set(key, o.offset)
        }
      }
      const tx = transaction
      await this.#bounded(tx.addConsumer(consumer), 'AddOffsetsToTxn')
      for (const message of offsets) await this.#bounded(tx.addOffset(message), 'TxnOffsetCommit') // workaround 6
      await this.#bounded(tx.commit(), 'EndTxn')
      return written
    } catch (error) {
      await transaction?.abort().catch(() => {})
      await this.reset()
      throw decideError(error, ErrorCodes.commitFailed)
    }
  }

  /** Starts a new producer session (workaround 3). */
  async reset(): Promise<void> {
    const old = this.#producer
    this.#producer = this.#create()
    await old.close().catch(() => {})
  }

  async close(): Promise<void> {
    await this.#producer.close().catch(() => {})
  }

  async #bounded<T>(step: Promise<T>, what: string): Promise<T> {
    const ms = this.#options.transactionTimeoutMs
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new FlextaskError(ErrorCodes.commitFailed, `${what} did not complete within ${ms} ms`, { retriable: true }),
          ),
        ms,
      )
    })
    try {
      return await Promise.race([step, timeout]) // workaround 5
    } finally {
      clearTimeout(timer)
    }
  }
}

function toMessage(r: TransactionRecord) {
  return {
    topic: r.topic,
    partition: r.partition,
    key: r.key ?? undefined,
    value: r.value ?? undefined,
    timestamp: BigInt(r.timestampMs),
    headers: r.headers === undefined ? undefined : new Map([...r.headers].map(([k, v]) => [Buffer.from(k), v])),
  }
}

/** Splits records into chunks of at most maxBytes (key + value + 64 bytes of overhead each; workaround 2). */
export function* chunksOfBytes<T extends { key: Buffer | null; value: Buffer | null }>(
  items: readonly T[],
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
