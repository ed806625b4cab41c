/**
 * The composition of a flextask process: builds the shared dependencies once from the resolved config (logger,
 * metrics, the Kafka client factory, the serde registry, the clock) and the components a command asks for, in
 * dependency order. cli/flextask.ts only parses arguments and forwards signals to the host built here.
 *
 * A new component: a `create<Name>(deps: ProcessDeps)` factory (process-deps.ts) in its own top-level folder, a
 * line in `componentFactories` below (order = start order: what it consumes starts before it), and a command in
 * cli/flextask.ts if it can run alone.
 */
import { createApi, type ApiComponent } from '../api/api.ts'
import type { Component } from '../component.ts'
import { printableConfig, type ResolvedConfig } from '../config.ts'
import { createConnector } from '../connectors/connector.ts'
import { createKafkaClientFactory } from '../kafka-clients.ts'
import { createLogger } from '../logger.ts'
import { createMetrics } from '../metrics.ts'
import type { ProcessDeps } from '../process-deps.ts'
import { createRegistryClient } from '../registry-connection.ts'
import { createScheduler } from '../scheduler/scheduler.ts'
import { createWorker } from '../workers/worker.ts'
import { createSerdeRegistry } from '../schemas/serde-registry.ts'
import { topicNames } from '../topics.ts'
import { systemClock } from '../topology/clocks.ts'
import { ComponentHost } from './component-host.ts'
import { kafkaProbe } from './dependency-wait.ts'
import { collectConsumerLag, laggingGroups } from './consumer-lag-collector.ts'

export type { ProcessDeps }

/** Every component, in dependency order (workers, the sink and the API add theirs here). */
export const componentFactories = {
  scheduler: (deps: ProcessDeps): Component => createScheduler(deps),
  // After the scheduler: it creates the executions and results topics the worker consumes and produces to.
  worker: (deps: ProcessDeps): Component => createWorker(deps),
  connector: (deps: ProcessDeps): Component => createConnector(deps),
  api: (deps: ProcessDeps): Component => createApi(deps),
} satisfies Record<string, (deps: ProcessDeps) => Component>

export type ComponentName = keyof typeof componentFactories
export const componentNames = Object.keys(componentFactories) as ComponentName[]

export function createProcessDeps(config: ResolvedConfig, overrides: Partial<ProcessDeps> = {}): ProcessDeps {
  const logger = overrides.logger ?? createLogger({ ...config.log, base: { instanceId: config.runtime.instanceId } })
  const registry = createRegistryClient(config.registry, {
    onRetry: (e) =>
      logger.warn({ attempt: e.attempt, delayMs: Math.round(e.delayMs) }, `${e.what}: ${e.error.message}`),
  })
  return {
    config,
    clock: overrides.clock ?? systemClock,
    logger,
    metrics:
      overrides.metrics ??
      createMetrics({
        processMetrics: true,
        onCollectError: (error) => logger.warn({ err: error }, 'a metrics collector failed; serving its last values'),
      }),
    kafka: overrides.kafka ?? createKafkaClientFactory(config.kafka),
    serdes: overrides.serdes ?? createSerdeRegistry(registry, topicNames(config.topics.prefix)),
  }
}

/** A host for the named components (all of them for `flextask up`), serving the ops endpoints. */
export function createProcessHost(deps: ProcessDeps, names: readonly ComponentName[] = componentNames): ComponentHost {
  const ordered = componentNames.filter((name) => names.includes(name))
  deps.metrics.addCollector(
    collectConsumerLag({
      groups: laggingGroups(ordered, deps.config),
      metrics: deps.metrics.consumerLag,
      kafka: deps.kafka,
      topicPrefix: deps.config.topics.prefix,
      clientId: `${deps.config.runtime.instanceId}-consumer-lag`,
    }),
  )
  // The only form of the configuration that is logged: secrets redacted, URL passwords masked.
  deps.logger.info({ components: ordered, config: printableConfig(deps.config) }, 'configuration')
  const components = ordered.map((name) => componentFactories[name](deps))
  const host = new ComponentHost({
    components,
    logger: deps.logger,
    metrics: deps.metrics,
    ops: { port: deps.config.metrics.port, host: deps.config.metrics.host },
    shutdownGraceMs: deps.config.runtime.shutdownGraceMs,
    // Every component needs the cluster: a process started while it is unreachable waits (issue 15).
    startupProbes: [kafkaProbe(deps.kafka, deps.config.kafka.brokers, `${deps.config.runtime.instanceId}-startup`)],
    startTimeoutMs: deps.config.runtime.startTimeoutMs,
  })
  // The API's /health/ready reports every component of its process.
  for (const component of components) (component as Partial<ApiComponent>).reportHealthOf?.(() => host.health())
  return host
}
