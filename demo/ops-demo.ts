/**
 * The demo's operator endpoints: /metrics, /health/live and /health/ready of the demo process (host/ops-server.ts)
 * on METRICS_PORT, or on a free port when that one is taken (a `flextask up` may already hold 9464), and the lines
 * the demo prints about them and about the Grafana dashboard.
 */
import type { Health } from '../component.ts'
import type { ProcessDeps } from '../process-deps.ts'
import { type OpsServer, startOpsServer } from '../host/ops-server.ts'

export interface OpsDemo {
  server: OpsServer
  lines: string[]
}

export async function startOpsDemo(deps: ProcessDeps, health: () => Record<string, Health>): Promise<OpsDemo> {
  const { host, port } = deps.config.metrics
  const sources = { metrics: deps.metrics, health }
  const options = { host, logger: deps.logger }
  const server = await startOpsServer(sources, { ...options, port }).catch(() =>
    startOpsServer(sources, { ...options, port: 0 }),
  )
  const base = `http://127.0.0.1:${server.port}`
  return {
    server,
    lines: [
      `metrics: ${base}/metrics (Prometheus), health: ${base}/health/ready`,
      'grafana: `docker compose up prometheus grafana` shows deploy/grafana/dashboards/flextask.json at http://localhost:3001',
    ],
  }
}
