/**
 * What every component factory receives (`create<Name>(deps: ProcessDeps)`), built once per process by
 * host/flextask-process.ts. A component takes the sections and ports it needs from it; tests build it with their
 * own logger, metrics registry or clock. Kept apart from host/ so components can import the type without a cycle.
 */
import type { ResolvedConfig } from './config.ts'
import type { KafkaClientFactory } from './kafka-clients.ts'
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import type { SerdeRegistry } from './schemas/serde-registry.ts'
import type { Clock } from './topology/api.ts'

export interface ProcessDeps {
  config: ResolvedConfig
  /** Wall clock (UTC epoch ms); a test may step it. */
  clock: Clock
  /** The process logger; a component binds `component` (and partition / generation where it has them). */
  logger: Logger
  metrics: Metrics
  /** Every Kafka client comes from here (brokers, SASL, TLS). */
  kafka: KafkaClientFactory
  /** The Avro serdes of every topic, with the subject rule; `init()` registers them (idempotent). */
  serdes: SerdeRegistry
}
