/**
 * The API component: `createApi(deps)` returns a Component that serves the REST API, OpenAPI docs (/docs) and live
 * events on `api.port`. Writes go to Kafka through one idempotent producer (acks = all); reads come from the sink's
 * Postgres projection. `start()` resolves once it listens (`url` then says where); it fails when the definitions
 * topic does not exist yet (start the scheduler, or `flextask topics create`, first).
 */
import { readFileSync } from 'node:fs'
import type { Producer } from '@platformatic/kafka'
import type { Component, Health } from '../component.ts'
import { postgresClientOptions, type ResolvedConfig } from '../config.ts'
import { ErrorCodes, FlextaskError, coerceError } from '../errors.ts'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { Logger } from '../logger.ts'
import type { SerdeRegistry } from '../schemas/serde-registry.ts'
import { sinkGroupId, topicNames } from '../topics.ts'
import type { Clock } from '../topology/api.ts'
import { systemClock } from '../topology/clocks.ts'
import { parseApiKeys, type ApiKey } from './api-keys.ts'
import type { ApiOptions } from './api-options.ts'
import { buildApiServer, type ApiServer } from './api-server.ts'
import { KafkaLiveEvents } from './live-events.ts'
import { PostgresReadModel } from './postgres-read-model.ts'
import { KafkaTaskWriter } from './task-writer.ts'

/** What the API needs from its process (host/flextask-process.ts ProcessDeps has it). */
export interface ApiDeps {
  config: ResolvedConfig
  logger: Logger
  kafka: KafkaClientFactory
  serdes: SerdeRegistry
  clock?: Clock
  metrics?: { render(): Promise<{ contentType: string; body: string }> }
  /** Health of the other components of the process, for /health/ready. */
  health?: () => Record<string, Health>
}

export interface ApiComponent extends Component {
  /** `http://host:port` once started. */
  readonly url: string
  /** Where /health/ready reads the health of the process's components (the host calls this). */
  reportHealthOf(source: () => Record<string, Health>): void
}

/** The API options of a resolved config (reads the keys file). Errors name the variable. */
export function apiOptionsFrom(config: ResolvedConfig): ApiOptions {
  const { api } = config
  const keys: ApiKey[] = []
  if (api.keys !== null) keys.push(...parseApiKeys(api.keys, 'FLEXTASK_API_KEYS'))
  if (api.keysFile !== null) {
    let text: string
    try {
      text = readFileSync(api.keysFile, 'utf8')
    } catch (error) {
      throw new FlextaskError(
        ErrorCodes.config,
        `FLEXTASK_API_KEYS_FILE: cannot read ${api.keysFile}: ${(error as Error).message}`,
      )
    }
    keys.push(...parseApiKeys(text, `FLEXTASK_API_KEYS_FILE ${api.keysFile}`))
  }
  return {
    host: api.host,
    port: api.port,
    apiKeys: keys,
    rateLimitPerMinute: api.rateLimitPerMinute,
    corsOrigins: (api.corsOrigins ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    bodyLimitBytes: api.bodyLimitBytes,
    readYourWritesTimeoutMs: api.waitTimeoutMs,
    categories: config.topics.categories,
    maxPayloadBytes: config.scheduler.maxPayloadBytes,
  }
}

export function createApi(deps: ApiDeps): ApiComponent {
  const { config } = deps
  const log = deps.logger.child({ component: 'api' })
  const options = apiOptionsFrom(config)
  const topics = topicNames(config.topics.prefix)
  const clock = deps.clock ?? systemClock
  let server: ApiServer | undefined
  let producer: Producer | undefined
  let readModel: PostgresReadModel | undefined
  let url = ''
  let closing: Promise<void> | undefined
  let state: 'new' | 'serving' | 'closed' = 'new'
  let peers = deps.health

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
    reportHealthOf(source) {
      peers = source
    },
    async start() {
      try {
        if (options.apiKeys.length === 0)
          log.warn('no API key configured (FLEXTASK_API_KEYS): every /api route answers 401')
        await deps.serdes.init()
        const partitions = await partitionCount(deps.kafka, topics.definitions)
        producer = deps.kafka.producer({
          clientId: `${config.runtime.instanceId}-api`,
          idempotent: true,
          acks: -1,
          retries: 10,
          retryDelay: 100,
        })
        readModel = new PostgresReadModel(postgresClientOptions(config.database), {
          projectionGroupId: config.sink.groupId ?? sinkGroupId(config.topics.prefix),
        })
        const writer = new KafkaTaskWriter({ producer, topics, serdes: deps.serdes, partitions })
        const liveEvents = new KafkaLiveEvents({
          kafka: deps.kafka,
          topics,
          categories: config.topics.categories,
          serdes: deps.serdes,
          readModel,
          logger: log,
        })
        const self = (): Record<string, Health> => peers?.() ?? {}
        server = await buildApiServer({
          options,
          readModel,
          writer,
          topics,
          logger: deps.logger,
          liveEvents,
          nowMs: () => clock.nowMs(),
          readiness: self,
          ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
        })
        const address = await server.listen({ host: options.host, port: options.port })
        url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1')
        state = 'serving'
        log.info({ url, docs: `${url}/docs` }, 'api listening')
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

async function partitionCount(kafka: KafkaClientFactory, topic: string): Promise<number> {
  const admin = kafka.admin('flextask-api-admin')
  try {
    const metadata = await admin.metadata({ topics: [topic] }).catch((error: unknown) => {
      throw new FlextaskError(
        ErrorCodes.topicsMismatch,
        `topic ${topic} is not readable: ${coerceError(error).message}`,
        {
          cause: error,
        },
      )
    })
    const count = metadata.topics.get(topic)?.partitionsCount
    if (count === undefined || count < 1) {
      throw new FlextaskError(
        ErrorCodes.topicsMismatch,
        `topic ${topic} does not exist: start the scheduler (or run flextask topics create) first`,
      )
    }
    return count
  } finally {
    await admin.close()
  }
}
