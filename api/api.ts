/**
 * The API component: `createApi(deps)` returns a Component that serves the REST API, OpenAPI docs and live events.
 * Writes go to Kafka through one idempotent producer; reads come from the sink's Postgres projection. `start()`
 * resolves once it listens; `address` then tells where.
 */
import { Admin, Producer } from '@platformatic/kafka'
import type pg from 'pg'
import type { Component, Health } from '../component.ts'
import { ErrorCodes, FlextaskError, coerceError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { AvroSerde } from '../schemas/avro-serde.ts'
import type { DeadLetter } from '../schemas/dead-letter.ts'
import type { Occurrence } from '../schemas/occurrence.ts'
import type { TaskCommand } from '../schemas/task-command.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import type { TopicNames } from '../topics.ts'
import type { ApiOptions } from './api-options.ts'
import { buildApiServer, type ApiServer } from './api-server.ts'
import { KafkaLiveEvents } from './live-events.ts'
import { PostgresReadModel } from './postgres-read-model.ts'
import { KafkaTaskWriter } from './task-writer.ts'

export interface ApiSerdes {
  definition: AvroSerde<TaskDefinition>
  command: AvroSerde<TaskCommand>
  execution: AvroSerde<TaskExecution>
  result: AvroSerde<TaskResult>
  occurrence: AvroSerde<Occurrence>
  deadLetter: AvroSerde<DeadLetter>
}

export interface ApiComponentDeps {
  options: ApiOptions
  bootstrapBrokers: string[]
  topics: TopicNames
  /** Registered serdes (their init() is called again at start; it is idempotent). */
  serdes: ApiSerdes
  /** The projection's database. */
  database: pg.PoolConfig
  /** The sink's consumer group (sink_offsets.consumer_group). */
  projectionGroupId: string
  logger: Logger
  metrics?: { render(): Promise<{ contentType: string; body: string }> }
  /** Health of other parts for /health/ready. */
  readiness?: () => Promise<Record<string, Health>> | Record<string, Health>
  instanceId: string
}

export interface ApiComponent extends Component {
  /** `http://host:port` once started. */
  readonly url: string
}

export function createApi(deps: ApiComponentDeps): ApiComponent {
  const log = deps.logger.child({ component: 'api' })
  let server: ApiServer | undefined
  let producer: Producer | undefined
  let readModel: PostgresReadModel | undefined
  let url = ''
  let closing: Promise<void> | undefined
  let state: 'new' | 'serving' | 'closed' = 'new'

  async function release(): Promise<void> {
    await server?.close().catch(() => undefined)
    await producer?.close().catch(() => undefined)
    await readModel?.close().catch(() => undefined)
  }

  return {
    name: 'api',
    get url() {
      return url
    },
    async start() {
      try {
        for (const serde of Object.values(deps.serdes) as AvroSerde<unknown>[]) await serde.init()
        const partitions = await partitionCount(deps.bootstrapBrokers, deps.topics.definitions)
        producer = new Producer({
          clientId: `${deps.instanceId}-api`,
          bootstrapBrokers: deps.bootstrapBrokers,
          idempotent: true,
          acks: -1,
          retries: 10,
          retryDelay: 100,
        })
        readModel = new PostgresReadModel(deps.database, { projectionGroupId: deps.projectionGroupId })
        const writer = new KafkaTaskWriter({ producer, topics: deps.topics, serdes: deps.serdes, partitions })
        const liveEvents = new KafkaLiveEvents({
          bootstrapBrokers: deps.bootstrapBrokers,
          topics: deps.topics,
          categories: deps.options.categories,
          serdes: deps.serdes,
          readModel,
          logger: log,
        })
        server = await buildApiServer({
          options: deps.options,
          readModel,
          writer,
          topics: deps.topics,
          logger: log,
          liveEvents,
          ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
          ...(deps.readiness === undefined ? {} : { readiness: deps.readiness }),
        })
        const address = await server.listen({ host: deps.options.host, port: deps.options.port })
        url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1')
        state = 'serving'
        log.info({ url }, 'api listening')
      } catch (error) {
        await release()
        throw coerceError(error, ErrorCodes.unknown)
      }
    },
    close() {
      closing ??= (async () => {
        state = 'closed'
        await release()
      })()
      return closing
    },
    health() {
      return {
        live: true,
        ready: state === 'serving',
        reasons: state === 'serving' ? [] : [state === 'new' ? 'api not started' : 'api closed'],
      }
    },
  }
}

async function partitionCount(bootstrapBrokers: string[], topic: string): Promise<number> {
  const admin = new Admin({ clientId: 'flextask-api-admin', bootstrapBrokers })
  try {
    const metadata = await admin.metadata({ topics: [topic] })
    const count = metadata.topics.get(topic)?.partitionsCount
    if (count === undefined || count < 1) {
      throw new FlextaskError(
        ErrorCodes.topicsMismatch,
        `topic ${topic} does not exist: start the scheduler (or flextask topics create) first`,
      )
    }
    return count
  } finally {
    await admin.close()
  }
}
