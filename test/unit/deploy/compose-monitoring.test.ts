/**
 * docker-compose.yml mounts deploy/prometheus and deploy/grafana where the images read them, and the paths the
 * mounted files refer to inside the containers exist in the mounted folders.
 */
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

const root = new URL('../../../', import.meta.url)
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
  services: Record<string, { volumes?: string[]; environment?: Record<string, string> }>
}

/** container path → host path (relative to the repository) of a service's bind mounts. */
function mounts(service: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const volume of compose.services[service]?.volumes ?? []) {
    const [host, container] = volume.split(':')
    if (host?.startsWith('./') === true && container !== undefined) out.set(container, host.slice(2))
  }
  return out
}

/** The host file behind a container path, through the service's mounts. */
function hostPath(service: string, containerPath: string): string | undefined {
  for (const [container, host] of mounts(service)) {
    if (containerPath === container || containerPath.startsWith(`${container}/`)) {
      return new URL(host + containerPath.slice(container.length), root).pathname
    }
  }
  return undefined
}

describe('docker-compose.yml mounts the monitoring configuration', () => {
  it('gives Prometheus its config, its rules and the targets folder', () => {
    const config = hostPath('prometheus', '/etc/prometheus/prometheus.yml')
    expect(config !== undefined && existsSync(config)).toBe(true)
    const text = readFileSync(config!, 'utf8')
    const ruleGlob = /rule_files:\s*\n\s*-\s*(\S+)/.exec(text)?.[1]
    expect(ruleGlob).toBe('/etc/prometheus/rules/*.yml')
    expect(existsSync(hostPath('prometheus', '/etc/prometheus/rules/flextask.yml')!)).toBe(true)
    expect(existsSync(hostPath('prometheus', '/etc/prometheus/targets')!)).toBe(true)
    expect(text).toContain("targets: ['flextask:9464']")
  })

  it('gives Grafana the data source, the dashboard provider and the dashboard it opens first', () => {
    expect(existsSync(hostPath('grafana', '/etc/grafana/provisioning/datasources/prometheus.yml')!)).toBe(true)
    const provider = readFileSync(hostPath('grafana', '/etc/grafana/provisioning/dashboards/flextask.yml')!, 'utf8')
    const dashboards = /path:\s*(\S+)/.exec(provider)?.[1]
    expect(dashboards).toBe('/var/lib/grafana/dashboards')
    const home = compose.services.grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH
    expect(home).toBe('/var/lib/grafana/dashboards/flextask.json')
    expect(existsSync(hostPath('grafana', home!)!)).toBe(true)
    const datasource = readFileSync(
      hostPath('grafana', '/etc/grafana/provisioning/datasources/prometheus.yml')!,
      'utf8',
    )
    expect(datasource).toContain('url: http://prometheus:9090')
  })
})
