/**
 * `npm run bench` on a fresh clone: like `npm run demo` and `npm test`, the bench starts the local Kafka broker
 * and Schema Registry it needs (tools/kafka, tools/registry) unless KAFKA_BROKERS / SCHEMA_REGISTRY_URL point
 * elsewhere, uses a broker or registry that already answers on its port (another checkout's, say), and stops
 * only what it started. Redis and Postgres (the peers' stores) are the machine's own services.
 */
import { startKafka, stopKafka } from '../../tools/kafka/kafka.ts'
import { startRegistry, stopRegistry } from '../../tools/registry/registry.ts'
import { portInUse } from '../../tools/service.ts'

const host = '127.0.0.1'

export interface LocalService {
  name: string
  port: number
  start: () => Promise<boolean>
  stop: () => Promise<boolean>
}

const kafka: LocalService = {
  name: 'kafka',
  port: Number(process.env.KAFKA_PORT ?? 9092),
  start: startKafka,
  stop: stopKafka,
}
const registry: LocalService = {
  name: 'registry',
  port: Number(process.env.REGISTRY_PORT ?? 8081),
  start: startRegistry,
  stop: stopRegistry,
}

/** The services to look after: those whose address the environment does not give. */
export function localServices(env: NodeJS.ProcessEnv = process.env): LocalService[] {
  return [
    ...(env.KAFKA_BROKERS === undefined ? [kafka] : []),
    ...(env.SCHEMA_REGISTRY_URL === undefined ? [registry] : []),
  ]
}

/**
 * Starts each service that does not answer on its port; returns a function that stops the ones it started (in
 * reverse order). `inUse` is the port probe (a parameter for tests).
 */
export async function ensureLocalServices(
  services: readonly LocalService[],
  log: (line: string) => void,
  inUse: (port: number) => Promise<boolean> = (port) => portInUse(host, port),
): Promise<() => Promise<void>> {
  const started: LocalService[] = []
  for (const service of services) {
    if (await inUse(service.port)) {
      log(`${service.name}: using what already answers on ${host}:${service.port}`)
      continue
    }
    if (await service.start()) started.push(service)
  }
  return async () => {
    for (const service of started.reverse()) await service.stop()
  }
}
