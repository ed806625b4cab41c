/** Where the test infrastructure lives; the same variables the README documents for the app. */
import { resolveConfig } from '../../config.ts'
import { createKafkaClientFactory } from '../../kafka-clients.ts'

export const kafkaBrokers = (process.env.KAFKA_BROKERS ?? `127.0.0.1:${process.env.KAFKA_PORT ?? 9092}`).split(',')
export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const schemaRegistryUrl =
  process.env.SCHEMA_REGISTRY_URL ?? `http://127.0.0.1:${process.env.REGISTRY_PORT ?? 8081}/apis/ccompat/v7`

/** Kafka clients for tests, from the same factory and `kafka` config section as the app (SASL/TLS when set). */
export const testKafka = createKafkaClientFactory(
  resolveConfig({ ...process.env, KAFKA_BROKERS: kafkaBrokers.join(',') }).kafka,
)
