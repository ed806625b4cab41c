/**
 * deploy/grafana: the dashboard JSON type-checks against @grafana/schema's Dashboard (the assignment below is
 * checked by `tsc`, part of `npm test`; there is no Grafana server here), its panels are well formed, and every
 * query uses the provisioned data source. That the queries name metrics the app exports is checked against a
 * live /metrics in test/integration/operator-metrics.test.ts, and that Prometheus parses them in
 * test/integration/prometheus-scrape.test.ts.
 */
import { readFileSync } from 'node:fs'
import type { Dashboard } from '@grafana/schema'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import dashboardJson from '../../../deploy/grafana/dashboards/flextask.json' with { type: 'json' }
import { dashboardExpressions } from '../../helpers/promql.ts'

const dashboard: Dashboard = dashboardJson

const provisioned = parse(
  readFileSync(new URL('../../../deploy/grafana/provisioning/datasources/prometheus.yml', import.meta.url), 'utf8'),
) as { datasources: { uid: string; type: string; url: string }[] }

describe('the Grafana dashboard', () => {
  it('has unique panel ids, panels inside the 24-column grid, and no overlapping panels', () => {
    const panels = dashboard.panels ?? []
    const ids = panels.map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
    const cells = new Set<string>()
    for (const panel of panels) {
      const { x, y, w, h } = panel.gridPos ?? { x: -1, y: -1, w: 0, h: 0 }
      expect(x >= 0 && x + w <= 24, `${panel.title} within the grid`).toBe(true)
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${panel.title} overlaps at ${i},${j}`).toBe(false)
          cells.add(`${i},${j}`)
        }
      }
    }
  })

  it('shows the panels the operator needs, each query on the provisioned Prometheus', () => {
    const titles = (dashboard.panels ?? []).map((p) => p.title)
    for (const wanted of [
      'Fire lateness p50 / p99 / max',
      'Fires per second',
      'Occurrence outcomes',
      'Dead letters',
      'Consumer lag',
      'Partitions and restore',
      'Commits and aborts',
    ]) {
      expect(titles).toContain(wanted)
    }
    const [datasource] = provisioned.datasources
    expect(datasource?.type).toBe('prometheus')
    for (const panel of dashboard.panels ?? []) {
      if (panel.type === 'row') continue
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: datasource?.uid })
      const targets = 'targets' in panel ? (panel.targets ?? []) : []
      expect(targets.length, panel.title).toBeGreaterThan(0)
      for (const target of targets) expect(target.datasource, panel.title).toEqual(panel.datasource)
    }
    expect(dashboardExpressions(dashboard).length).toBeGreaterThanOrEqual(15)
  })
})
