/**
 * The Helm chart (deploy/helm/flextask) through real Helm 3 (helm-java, tools/helm): `helm lint --strict` passes
 * (and fails on a broken copy, so the lint is real), and `helm template` renders the objects the README promises,
 * checked against the code: kinds, probes on the ops endpoints, the scheduler's stable instance ids and state
 * volume, every variable one config.ts reads (secrets only as <VAR>_FILE), the image's user and volume, PDBs that
 * select their pods. deploy/kubernetes/flextask.yaml must equal the chart's rendering of its values file.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { configFields } from '../../config.ts'
import { ensureHelmJars, helm, type HelmResult } from '../../tools/helm/helm.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const chart = 'deploy/helm/flextask'
const scratch = mkdtempSync(join(tmpdir(), 'ft-prod-helm-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

interface K8sObject {
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  spec?: Record<string, unknown>
  data?: Record<string, string>
  stringData?: Record<string, string>
}
interface Container {
  name: string
  args: string[]
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[]
  envFrom: { configMapRef: { name: string } }[]
  ports: { name: string; containerPort: number }[]
  readinessProbe: { httpGet: { path: string; port: string } }
  livenessProbe: { httpGet: { path: string; port: string } }
  resources: { requests?: { cpu?: string; memory?: string } }
  volumeMounts: { name: string; mountPath: string }[]
}
interface PodSpec {
  securityContext: { runAsNonRoot: boolean; runAsUser: number }
  containers: Container[]
  volumes: { name: string; secret?: { secretName: string } }[]
}

function objects(result: HelmResult | undefined): K8sObject[] {
  expect(result?.status, result?.output).toBe(0)
  return parseAllDocuments(result?.output ?? '')
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null)
}

const podSpec = (o: K8sObject): PodSpec => (o.spec as { template: { spec: PodSpec } }).template.spec
const env = new Set(configFields.map((f) => f.env))
const secretEnv = new Set(configFields.filter((f) => f.secret !== undefined).map((f) => f.env))
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
const cli = readFileSync(join(root, 'cli/flextask.ts'), 'utf8')

const broken = join(scratch, 'broken')
let lint: HelmResult
let brokenLint: HelmResult
let rendered: K8sObject[]
let withoutApi: K8sObject[]
let manifests: HelmResult

/** Every helm command of this file in one JVM (helm-java loads Helm's native library once). */
beforeAll(() => {
  ensureHelmJars()
  cpSync(join(root, chart), broken, { recursive: true })
  writeFileSync(
    join(broken, 'templates/broken.yaml'),
    'kind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.missing }}\n',
  )
  const started = Date.now()
  const results = helm([
    ['lint', chart],
    ['lint', broken],
    ['template', chart, 'ft', 'flextask', '--set', 'serviceMonitor.enabled=true']
      .concat(['--set', 'secrets.values.KAFKA_SASL_PASSWORD=not-a-real-one'])
      .concat(['--set', 'secrets.values.DATABASE_PASSWORD=nor-this']),
    ['template', chart, 'ft', 'flextask', '--set', 'api.enabled=false', '--set', 'connector.enabled=false'],
    ['template', chart, 'flextask', 'flextask', '-f', 'deploy/kubernetes/values.yaml'],
  ])
  console.log(`helm lint (2) and template (3) in one JVM: ${Date.now() - started} ms`)
  lint = results[0] as HelmResult
  brokenLint = results[1] as HelmResult
  rendered = objects(results[2])
  withoutApi = objects(results[3])
  manifests = results[4] as HelmResult
})

describe('the Helm chart', () => {
  it('passes helm lint --strict, and a broken copy does not', () => {
    expect(lint.status, lint.output).toBe(0)
    expect(brokenLint.status).toBe(1)
    expect(brokenLint.output).toMatch(/nil pointer evaluating interface \{\}\.missing/)
  })

  it('renders a scheduler StatefulSet, worker, connector and API Deployments, PDBs, config, secret and ServiceMonitor', () => {
    const names = rendered.map((o) => `${o.kind}/${o.metadata.name}`).sort()
    expect(names).toEqual(
      [
        'ConfigMap/ft-flextask-config',
        'Secret/ft-flextask-secrets',
        'StatefulSet/ft-flextask-scheduler',
        'Service/ft-flextask-scheduler',
        'ServiceMonitor/ft-flextask',
        ...['worker', 'connector', 'api'].flatMap((c) => [`Deployment/ft-flextask-${c}`, `Service/ft-flextask-${c}`]),
        ...['scheduler', 'worker', 'connector', 'api'].map((c) => `PodDisruptionBudget/ft-flextask-${c}`),
      ].sort(),
    )
  })

  it('probes every component on /health/ready and /health/live of its METRICS_PORT, as a non-root user', () => {
    const uid = Number(/^USER (\d+)/m.exec(dockerfile)?.[1])
    for (const workload of rendered.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment')) {
      const pod = podSpec(workload)
      const [container] = pod.containers
      if (container === undefined) throw new Error(`${workload.metadata.name} has no container`)
      const metricsPort = container.ports.find((p) => p.name === 'metrics')?.containerPort
      expect(container.env.find((e) => e.name === 'METRICS_PORT')?.value).toBe(String(metricsPort))
      expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'metrics' })
      expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'metrics' })
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid })
      expect(container.resources.requests?.cpu, workload.metadata.name).toBeDefined()
      expect(container.resources.requests?.memory, workload.metadata.name).toBeDefined()
      expect(['scheduler', 'worker', 'connector', 'api']).toContain(container.args[0])
    }
    // The commands the other components add (issues 10-12) land on main separately; the scheduler's is here.
    expect(cli).toContain(".command('scheduler')")
  })

  it('gives each scheduler pod its name as FLEXTASK_INSTANCE_ID and a volume claim at the state directory', () => {
    const statefulSet = rendered.find((o) => o.kind === 'StatefulSet') as K8sObject
    const [container] = podSpec(statefulSet).containers
    const instanceId = container?.env.find((e) => e.name === 'FLEXTASK_INSTANCE_ID')
    expect(instanceId?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name')
    const stateDir = container?.env.find((e) => e.name === 'FLEXTASK_STATE_DIR')?.value
    expect(dockerfile).toContain(`VOLUME ["${stateDir}"]`)
    const claims = (statefulSet.spec?.volumeClaimTemplates as { metadata: { name: string } }[]).map(
      (c) => c.metadata.name,
    )
    expect(claims).toEqual(['state'])
    expect(container?.volumeMounts).toContainEqual({ name: 'state', mountPath: stateDir })
    expect(statefulSet.spec?.serviceName).toBe('ft-flextask-scheduler')
  })

  it('sets only variables config.ts reads, and secrets only as files', () => {
    const configMap = rendered.find((o) => o.kind === 'ConfigMap') as K8sObject
    for (const name of Object.keys(configMap.data ?? {})) {
      expect(env, name).toContain(name)
      expect(secretEnv.has(name) && name !== 'DATABASE_URL' && name !== 'SCHEMA_REGISTRY_URL', name).toBe(false)
    }
    const secret = rendered.find((o) => o.kind === 'Secret') as K8sObject
    for (const key of Object.keys(secret.stringData ?? {})) expect(secretEnv, key).toContain(key)
    for (const workload of rendered.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment')) {
      const pod = podSpec(workload)
      const container = pod.containers[0] as Container
      expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }])
      const mount = container.volumeMounts.find((m) => m.name === 'secrets')?.mountPath
      expect(pod.volumes.find((v) => v.name === 'secrets')?.secret?.secretName).toBe(secret.metadata.name)
      for (const variable of container.env) {
        const file = /^(.*)_FILE$/.exec(variable.name)?.[1]
        if (file !== undefined && secretEnv.has(file)) expect(variable.value).toBe(`${mount}/${file}`)
        else expect(env, variable.name).toContain(variable.name)
      }
      expect(container.env.map((e) => e.name).sort()).toEqual(
        expect.arrayContaining(['DATABASE_PASSWORD_FILE', 'KAFKA_SASL_PASSWORD_FILE']),
      )
    }
  })

  it('has one PodDisruptionBudget per component, selecting exactly its pods', () => {
    const workloads = rendered.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment')
    for (const pdb of rendered.filter((o) => o.kind === 'PodDisruptionBudget')) {
      const selector = (pdb.spec?.selector as { matchLabels: Record<string, string> }).matchLabels
      const matching = workloads.filter((w) => {
        const labels = (w.spec?.template as { metadata: { labels: Record<string, string> } }).metadata.labels
        return Object.entries(selector).every(([k, v]) => labels[k] === v)
      })
      expect(matching.map((w) => w.metadata.name)).toEqual([pdb.metadata.name])
      expect(pdb.spec?.maxUnavailable).toBe(1)
    }
  })

  it('leaves out disabled components and the ServiceMonitor by default', () => {
    const names = withoutApi.map((o) => `${o.kind}/${o.metadata.name}`)
    expect(names.filter((n) => n.includes('-api') || n.includes('-connector'))).toEqual([])
    expect(names).toContain('Deployment/ft-flextask-worker')
    expect(names.some((n) => n.startsWith('ServiceMonitor/'))).toBe(false)
    expect(names.some((n) => n.startsWith('Secret/'))).toBe(false)
  })

  it('matches deploy/kubernetes/flextask.yaml, the plain manifests rendered from deploy/kubernetes/values.yaml', () => {
    expect(manifests.status, manifests.output).toBe(0)
    const committed = readFileSync(join(root, 'deploy/kubernetes/flextask.yaml'), 'utf8')
    expect(committed.split('\n').slice(1).join('\n'), 'regenerate: see deploy/kubernetes/values.yaml').toBe(
      manifests.output,
    )
  })
})
