/**
 * The entry of the configuration and the one place that reads process.env (the files under config/ take values,
 * never the environment; ESLint holds both). `resolveConfig` returns one fully populated section per concern:
 *
 *   kafka     brokers, SASL, TLS             → kafka-clients.ts maps it into every Kafka client
 *   registry  Schema Registry, auth, CA      → registry-connection.ts builds the RegistryClient
 *   database  Postgres URL, password, SSL    → the sink and the API (config/postgres-options.ts)
 *   topics    prefix, partitions, categories → topics.ts names, every component
 *   runtime   instance id, state dir, the stream runtime's cycle and group timings, shutdown grace
 *   scheduler worker sink api               → one section per component (scheduler/, workers/, connectors/, api/)
 *   metrics   the /metrics and /health port   → host/ops-server.ts
 *   log       level and format               → logger.ts
 *
 * Every default is in `configDefaults` (config/defaults.ts: one literal, checked against the types with
 * `satisfies`). Every field an environment variable sets is in `configFields` (config/fields.ts), parsed and
 * checked by config/checks.ts; errors name the path and the variable
 * (`topics.partitions must be a positive integer, got 0 (FLEXTASK_PARTITIONS)`).
 *
 * Secrets (passwords, URLs holding one) are marked `secret` in configFields: each also reads `<VAR>_FILE` (a
 * mounted Kubernetes secret), and `printableConfig` is the only form of the config that may be logged or served.
 *
 * Adding a field: its type and doc (unit, default) in the section's interface (config/sections.ts), its default
 * in configDefaults, and, when the environment sets it, a line in configFields plus a row in the README's
 * configuration table.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { check, checkCombinations, invalid, parse } from './config/checks.ts'
import { configDefaults } from './config/defaults.ts'
import { configFields, type FieldSpec, getPath, setPath } from './config/fields.ts'
import type { ResolvedConfig } from './config/sections.ts'

export * from './config/sections.ts'
export { configDefaults, defaultCategories } from './config/defaults.ts'
export { configFields } from './config/fields.ts'
export { printableConfig, redacted, withoutUrlPassword } from './config/printable.ts'
export { postgresClientOptions } from './config/postgres-options.ts'

/** Per-section overrides on top of the environment (tests, benchmarks, the demo). */
export type ConfigOverrides = { [S in keyof ResolvedConfig]?: Partial<ResolvedConfig[S]> }

/**
 * Defaults ← environment ← overrides, then every field is checked. Throws FLEXTASK_CONFIG_INVALID naming the
 * path (and the variable when it came from the environment).
 */
export function resolveConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): ResolvedConfig {
  const config = structuredClone(configDefaults) as ResolvedConfig
  // The local tools' ports move the local defaults with them (tools/kafka, tools/registry).
  config.kafka.brokers = [`127.0.0.1:${env.KAFKA_PORT ?? 9092}`]
  config.registry.url = `http://127.0.0.1:${env.REGISTRY_PORT ?? 8081}/apis/ccompat/v7`
  // Clients reach the API on its own port unless told otherwise.
  if (env.PORT !== undefined && /^\d+$/.test(env.PORT.trim())) config.api.url = `http://127.0.0.1:${env.PORT.trim()}`
  const fromEnv = new Set<string>()
  for (const field of configFields) {
    const raw = field.secret !== undefined ? secretFromEnv(env, field) : env[field.env]
    if (raw === undefined || raw.trim() === '') continue
    setPath(config, field.path, parse(field, raw.trim()))
    fromEnv.add(field.path)
  }
  for (const [section, values] of Object.entries(overrides) as [keyof ResolvedConfig, object][]) {
    Object.assign(config[section], values)
  }
  for (const field of configFields) check(field, getPath(config, field.path), fromEnv.has(field.path))
  config.runtime.stateDir = resolve(config.runtime.stateDir)
  checkCombinations(config)
  return config
}

/** A secret's value from `<env>`, or from the file `<env>_FILE` names; setting both is an error. */
function secretFromEnv(env: NodeJS.ProcessEnv, field: FieldSpec): string | undefined {
  const file = env[`${field.env}_FILE`]?.trim()
  if (file === undefined || file === '') return env[field.env]
  if (env[field.env] !== undefined && env[field.env]?.trim() !== '') {
    throw invalid(field.path, `${field.path}: set ${field.env} or ${field.env}_FILE, not both`)
  }
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable'
    throw invalid(field.path, `${field.path}: cannot read ${field.env}_FILE ${JSON.stringify(file)} (${reason})`)
  }
}
