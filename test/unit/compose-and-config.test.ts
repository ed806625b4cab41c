import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { configFields, resolveConfig } from '../../config.ts'

interface Service {
  image?: string
  build?: string
  ports?: string[]
  environment?: Record<string, string | number>
  healthcheck?: unknown
}

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>
}
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

describe('docker-compose.yml and the README agree', () => {
  it('runs Kafka, Confluent Schema Registry, Postgres, Prometheus, Grafana and flextask', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['flextask', 'grafana', 'kafka', 'postgres', 'prometheus', 'schema-registry'].sort(),
    )
    expect(compose.services['schema-registry']?.image).toMatch(/^confluentinc\/cp-schema-registry:/)
    expect(compose.services.kafka?.image).toMatch(/^apache\/kafka:4\.2\./)
    for (const name of ['kafka', 'schema-registry', 'postgres'])
      expect(compose.services[name]?.healthcheck).toBeDefined()
  })

  it('publishes the default ports of the configuration table', () => {
    const published = Object.values(compose.services).flatMap((s) => (s.ports ?? []).map((p) => p.split(':')[0]))
    for (const port of ['9092', '8081', '5432', '3000', '9464']) {
      expect(published).toContain(port)
      expect(readme).toContain(port)
    }
  })

  it('configures flextask only through variables the README documents and config.ts reads', () => {
    const env = Object.keys(compose.services.flextask?.environment ?? {})
    for (const name of env) expect(readme, name).toContain(`\`${name}\``)
    const config = resolveConfig(
      Object.fromEntries(Object.entries(compose.services.flextask?.environment ?? {}).map(([k, v]) => [k, String(v)])),
    )
    expect(config.kafka.brokers).toEqual(['kafka:29092'])
    expect(config.registry.url).toBe('http://schema-registry:8081')
    expect(config.api.port).toBe(3000)
    expect(config.metrics.port).toBe(9464)
  })
})

describe('docker-compose.yml and the code agree', () => {
  const services = compose.services as Record<string, Service & { volumes?: string[]; command?: string[] }>
  const flextask = services.flextask as Service & { command?: string[] }
  const flextaskEnv = Object.fromEntries(Object.entries(flextask.environment ?? {}).map(([k, v]) => [k, String(v)]))

  it('sets only variables config.ts reads', () => {
    const known = new Set(configFields.flatMap((f) => (f.secret === undefined ? [f.env] : [f.env, `${f.env}_FILE`])))
    for (const name of Object.keys(flextaskEnv)) expect(known, `${name} is not read by config.ts`).toContain(name)
  })

  it('publishes flextask on the ports its config listens on', () => {
    const config = resolveConfig(flextaskEnv)
    const containerPorts = (flextask.ports ?? []).map((p) => Number(p.split(':').at(-1)))
    expect(containerPorts.sort()).toEqual([config.api.port, config.metrics.port].sort())
    const prometheus = readFileSync(new URL('../../deploy/prometheus/prometheus.yml', import.meta.url), 'utf8')
    expect(prometheus).toContain(`flextask:${config.metrics.port}`)
  })

  it('points flextask at the Kafka, registry and Postgres services as they listen', () => {
    const config = resolveConfig(flextaskEnv)
    const kafkaEnv = services.kafka?.environment ?? {}
    const [host, port] = (config.kafka.brokers[0] as string).split(':')
    expect(String(kafkaEnv.KAFKA_ADVERTISED_LISTENERS)).toContain(`//${host}:${port}`)
    const registry = new URL(config.registry.url)
    expect(registry.hostname).toBe('schema-registry')
    expect(String(services['schema-registry']?.environment?.SCHEMA_REGISTRY_LISTENERS)).toContain(`:${registry.port}`)
    const database = new URL(config.database.url)
    const pgEnv = services.postgres?.environment ?? {}
    expect([database.hostname, database.port, database.username, database.password, database.pathname]).toEqual([
      'postgres',
      '5432',
      pgEnv.POSTGRES_USER,
      pgEnv.POSTGRES_PASSWORD,
      `/${String(pgEnv.POSTGRES_DB)}`,
    ])
  })

  it('runs the image entrypoint with a command the CLI has, and keeps state on a named volume', () => {
    expect(flextask.command).toEqual(['up'])
    const cli = readFileSync(new URL('../../cli/flextask.ts', import.meta.url), 'utf8')
    expect(cli).toContain(".command('up'")
    const state = resolveConfig(flextaskEnv).runtime.stateDir
    expect((services.flextask?.volumes ?? []).some((v) => v.endsWith(`:${state}`))).toBe(true)
  })

  it('mounts Prometheus and Grafana configuration that exists', () => {
    for (const name of ['prometheus', 'grafana']) {
      const binds = (services[name]?.volumes ?? []).filter((v) => v.startsWith('./'))
      expect(binds.length, `${name} mounts`).toBeGreaterThan(0)
      for (const bind of binds) {
        const source = bind.split(':')[0] as string
        expect(existsSync(new URL(`../../${source}`, import.meta.url)), source).toBe(true)
      }
    }
  })
})
