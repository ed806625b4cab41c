/**
 * The one place that reads process.env. `resolveConfig` returns fully populated options; its errors name
 * the variable and the bad value.
 */
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { ErrorCodes, FlextaskError } from './errors.ts'

export interface FlextaskConfig {
  /** KAFKA_BROKERS, comma-separated host:port. @default 127.0.0.1:<KAFKA_PORT or 9092> (the local broker) */
  kafkaBrokers: string[]
  /** SCHEMA_REGISTRY_URL, a Confluent-compatible registry. @default http://127.0.0.1:<REGISTRY_PORT or 8081>/apis/ccompat/v7 (local Apicurio) */
  schemaRegistryUrl: string
  /** DATABASE_URL. @default postgres://postgres@127.0.0.1:5432/flextask */
  databaseUrl: string
  /** FLEXTASK_TOPIC_PREFIX. @default flextask */
  topicPrefix: string
  /** FLEXTASK_PARTITIONS, partitions of the co-partitioned topics when flextask creates them. @default 6 */
  partitions: number
  /** FLEXTASK_CATEGORIES, comma-separated known task categories (one executions topic each). */
  categories: string[]
  /** FLEXTASK_STATE_DIR, local LevelDB state. @default .state */
  stateDir: string
  /** FLEXTASK_INSTANCE_ID, stable per process (static membership, transactional id). @default hostname */
  instanceId: string
  /** PORT of the REST API. @default 3000 */
  port: number
  /** METRICS_PORT of the Prometheus endpoint. @default 9464 */
  metricsPort: number
  /**
   * FLEXTASK_OUTAGE_GIVE_UP_MS: how long the scheduler waits out retriable failures (broker unreachable,
   * coordinator loading) with no progress before it exits with FLEXTASK_TOPOLOGY_GAVE_UP. @default 900000
   */
  outageGiveUpMs: number
}

export const defaultCategories = ['http', 'email', 'internal', 'kubernetes', 'elasticsearch']

export function resolveConfig(env: NodeJS.ProcessEnv = process.env): FlextaskConfig {
  return {
    kafkaBrokers: list(env.KAFKA_BROKERS, [`127.0.0.1:${env.KAFKA_PORT ?? 9092}`]),
    schemaRegistryUrl: env.SCHEMA_REGISTRY_URL ?? `http://127.0.0.1:${env.REGISTRY_PORT ?? 8081}/apis/ccompat/v7`,
    databaseUrl: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/flextask',
    topicPrefix: env.FLEXTASK_TOPIC_PREFIX ?? 'flextask',
    partitions: positiveInt('FLEXTASK_PARTITIONS', env.FLEXTASK_PARTITIONS, 6),
    categories: list(env.FLEXTASK_CATEGORIES, defaultCategories),
    stateDir: resolve(env.FLEXTASK_STATE_DIR ?? '.state'),
    instanceId: env.FLEXTASK_INSTANCE_ID ?? hostname(),
    port: positiveInt('PORT', env.PORT, 3000),
    metricsPort: positiveInt('METRICS_PORT', env.METRICS_PORT, 9464),
    outageGiveUpMs: positiveInt('FLEXTASK_OUTAGE_GIVE_UP_MS', env.FLEXTASK_OUTAGE_GIVE_UP_MS, 900_000),
  }
}

function list(value: string | undefined, fallback: string[]): string[] {
  const items = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  return items.length > 0 ? items : fallback
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) {
    throw new FlextaskError(ErrorCodes.config, `${name} must be a positive integer, got ${JSON.stringify(value)}`, {
      context: { field: name },
    })
  }
  return n
}
