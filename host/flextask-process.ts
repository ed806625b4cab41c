/**
 * The composition of a flextask process: builds the shared dependencies once from the resolved config (logger,
 * metrics, the Kafka client factory, the serde registry, the clock) and the components a command asks for, in
 * dependency order. cli/flextask.ts only parses arguments and forwards signals to the host built here.
 *
 * A new component: a `create<Name>(deps: ProcessDeps)` factory (process-deps.ts) in its own top-level folder, a
 * line in `componentFactories` below (order = start order: what it consumes starts before it), and a command in
 * cli/flextask.ts if it can run alone.
 */
import type { Component } from '../component.ts'
import type { ResolvedConfig } from '../config.ts'
import { createConnector } from '../connectors/connector.ts'
import { createKafkaClientFactory } from '../kafka-clients.ts'
import { createLogger } from '../logger.ts'
import { createMetrics } from '../metrics.ts'
import type { ProcessDeps } from '../process-deps.ts'
import { createScheduler } from '../scheduler/scheduler.ts'
import { createWorker } from '../workers/worker.ts'
import { RegistryClient } from '../schemas/registry-client.ts'
import { createSerdeRegistry } from '../schemas/serde-registry.ts'
import { topicNames } from '../topics.ts'
import { systemClock } from '../topology/clocks.ts'
import { ComponentHost } from './component-host.ts'

export type { ProcessDeps }

/** Every component, in dependency order (workers, the sink and the API add theirs here). */
export const componentFactories = {
  scheduler: (deps: ProcessDeps): Component => createScheduler(deps),
  // After the scheduler: it creates the executions and results topics the worker consumes and produces to.
  worker: (deps: ProcessDeps): Component => createWorker(deps),
  connector: (deps: ProcessDeps): Component => createConnector(deps),
} satisfies Record<string, (deps: ProcessDeps) => Component>

export type ComponentName = keyof typeof componentFactories
export const componentNames = Object.keys(componentFactories) as ComponentName[]

export function createProcessDeps(config: ResolvedConfig, overrides: Partial<ProcessDeps> = {}): ProcessDeps {
  const logger = overrides.logger ?? createLogger({ ...config.log, base: { instanceId: config.runtime.instanceId } })
  const registry = new RegistryClient(config.registry.url, {
    requestTimeoutMs: config.registry.requestTimeoutMs,
    onRetry: (e) =>
      logger.warn({ attempt: e.attempt, delayMs: Math.round(e.delayMs) }, `${e.what}: ${e.error.message}`),
  })
  return {
    config,
    clock: overrides.clock ?? systemClock,
    logger,
    metrics: overrides.metrics ?? createMetrics({ processMetrics: true }),
    kafka: overrides.kafka ?? createKafkaClientFactory(config.kafka),
    serdes: overrides.serdes ?? createSerdeRegistry(registry, topicNames(config.topics.prefix)),
  }
}

/** A host for the named components (all of them for `flextask up`), serving the ops endpoints. */
export function createProcessHost(deps: ProcessDeps, names: readonly ComponentName[] = componentNames): ComponentHost {
  const ordered = componentNames.filter((name) => names.includes(name))
  return new ComponentHost({
    components: ordered.map((name) => componentFactories[name](deps)),
    logger: deps.logger,
    metrics: deps.metrics,
    ops: { port: deps.config.metrics.port, host: deps.config.metrics.host },
    shutdownGraceMs: deps.config.runtime.shutdownGraceMs,
  })
}
