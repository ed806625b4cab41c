/**
 * Ensures the real broker and Schema Registry the integration suites need are up: starts what is not
 * running (unless KAFKA_BROKERS / SCHEMA_REGISTRY_URL point elsewhere) and, at the end, stops only what
 * it started.
 */
import { startKafka, stopKafka } from '../tools/kafka/kafka.ts'
import { startRegistry, stopRegistry } from '../tools/registry/registry.ts'

let startedKafka = false
let startedRegistry = false

export async function setup(): Promise<void> {
  const [kafka, registry] = await Promise.all([
    process.env.KAFKA_BROKERS === undefined ? startKafka() : false,
    process.env.SCHEMA_REGISTRY_URL === undefined ? startRegistry() : false,
  ])
  startedKafka = kafka
  startedRegistry = registry
}

export async function teardown(): Promise<void> {
  await Promise.all([startedKafka ? stopKafka() : undefined, startedRegistry ? stopRegistry() : undefined])
}
