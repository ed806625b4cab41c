import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { resolveConfig } from '../../config.ts'

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
