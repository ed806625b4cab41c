/**
 * What `npm run demo` runs on the worker side (cli/demo.ts prints; this module builds): a local echo endpoint,
 * a stand-in for a Kubernetes API server on the same port (under /k8s-stand-in/: it answers /readyz?verbose and
 * /livez?verbose the way an API server does; it is no cluster, and the demo says so), a local SMTP sink (a real
 * smtp-server on 127.0.0.1), the handlers the demo's tasks use (`internal` tick, a flaky one that fails twice then
 * succeeds), the example definitions (every schedule kind and every local built-in), and one-line descriptions
 * of results.
 */
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { buildTaskDefinition } from '../schemas/task-definition-builder.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import { handlerError, HandlerRegistry } from '../workers/handler.ts'

export interface DemoServices {
  echoUrl: string
  /** The Kubernetes API stand-in's base URL (a path of the echo endpoint). */
  kubernetesUrl: string
  smtpPort: number
  /** One line per message the SMTP sink received. */
  onMail(listener: (line: string) => void): void
  handlers: HandlerRegistry
  close(): Promise<void>
}

export async function startDemoServices(): Promise<DemoServices> {
  const echo: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.url?.startsWith(kubernetesPath) === true) return kubernetesStandIn(req.url, res)
      const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200)
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ echoed: { method: req.method, path: req.url, body: Buffer.concat(chunks).toString() } }))
    })
  })
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
  const mailListeners: ((line: string) => void)[] = []
  const smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const subject = /^Subject: (.*)$/m.exec(Buffer.concat(chunks).toString())?.[1]?.trim() ?? ''
        const to = session.envelope.rcptTo.map((r) => r.address).join(', ')
        for (const l of mailListeners) l(`smtp-sink received "${subject}" for ${to}`)
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve))
  const attempts = new Map<string, number>()
  const handlers = new HandlerRegistry()
    .registerInternal('tick', (ctx) => {
      ctx.log.info('tick', { slot: ctx.scheduledFor.toISOString() })
      return { tickedAt: new Date(ctx.dueAtMs).toISOString() }
    })
    .registerInternal('flaky', (ctx) => {
      const n = (attempts.get(ctx.executionId) ?? 0) + 1
      attempts.set(ctx.executionId, n)
      if (n <= 2) throw handlerError('DEMO_FLAKY', `simulated failure ${n} of 2`, { retriable: true })
      return { succeededOnAttempt: ctx.attempt }
    })
  const echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`
  return {
    echoUrl,
    kubernetesUrl: `${echoUrl}${kubernetesPath}`,
    smtpPort: (smtp.server.address() as AddressInfo).port,
    onMail: (listener) => void mailListeners.push(listener),
    handlers,
    close: async () => {
      await new Promise<void>((resolve) => echo.close(() => resolve()))
      await new Promise<void>((resolve) => smtp.close(() => resolve()))
    },
  }
}

const kubernetesPath = '/k8s-stand-in/'

/** What an API server answers on /readyz?verbose and /livez?verbose when healthy; 404 for anything else. */
function kubernetesStandIn(url: string, res: ServerResponse): void {
  const endpoint = /^\/k8s-stand-in\/(readyz|livez)(\?|$)/.exec(url)?.[1]
  if (endpoint === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n')
    return
  }
  const checks = ['ping', 'log', 'etcd', 'informer-sync'].map((c) => `[+]${c} ok`)
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`${checks.join('\n')}\n${endpoint} check passed\n`)
}

/** The demo's tasks: every schedule kind, every local built-in, a retried one, one that ends DEAD, one invalid. */
export function demoDefinitions(
  now: number,
  services: Pick<DemoServices, 'echoUrl' | 'kubernetesUrl' | 'smtpPort'>,
): TaskDefinition[] {
  const retry = (maxAttempts: number) => ({
    maxAttempts,
    backoffBaseMs: 1000,
    backoffFactor: 1,
    backoffMaxMs: 1000,
    jitterRatio: 0,
  })
  const http = (path: string, extra: object = {}): string =>
    JSON.stringify({ url: `${services.echoUrl}${path}`, ...extra })
  return [
    buildTaskDefinition({
      taskId: 'http-check-5s',
      name: 'HTTP check of the local echo endpoint',
      category: 'http',
      type: 'request',
      payload: http('/health'),
      createdAtMs: now,
      schedule: { kind: 'INTERVAL', everyMs: 5000 },
    }),
    buildTaskDefinition({
      taskId: 'k8s-health-10s',
      name: 'Kubernetes health check (against a local stand-in API, not a cluster)',
      category: 'kubernetes',
      type: 'HealthCheck',
      payload: JSON.stringify({ server: services.kubernetesUrl }),
      createdAtMs: now,
      schedule: { kind: 'INTERVAL', everyMs: 10_000 },
    }),
    buildTaskDefinition({
      taskId: 'email-once-in-7s',
      category: 'email',
      type: 'send',
      payload: JSON.stringify({
        host: '127.0.0.1',
        port: services.smtpPort,
        starttls: 'never',
        from: 'flextask@demo.test',
        to: 'ops@demo.test',
        subject: 'flextask demo: one-shot report',
        text: 'Sent by the email/send built-in.',
      }),
      createdAtMs: now,
      schedule: { kind: 'ONE_SHOT', atMs: now + 7000 },
    }),
    buildTaskDefinition({
      taskId: 'delayed-4s',
      category: 'http',
      type: 'request',
      payload: http('/webhook', {
        method: 'POST',
        body: { event: 'demo' },
        headers: { authorization: 'Bearer demo-secret' },
      }),
      createdAtMs: now,
      schedule: { kind: 'DELAY', delayMs: 4000 },
    }),
    buildTaskDefinition({
      taskId: 'tokyo-every-10s',
      category: 'internal',
      type: 'tick',
      createdAtMs: now,
      schedule: { kind: 'CRON', cron: '*/10 * * * * *', timezone: 'Asia/Tokyo' },
    }),
    buildTaskDefinition({
      taskId: 'flaky-3-attempts',
      category: 'internal',
      type: 'flaky',
      retry: retry(3),
      createdAtMs: now,
      schedule: { kind: 'ONE_SHOT', atMs: now + 3000 },
    }),
    buildTaskDefinition({
      taskId: 'ends-dead',
      category: 'http',
      type: 'request',
      payload: http('/broken?status=503'),
      retry: retry(2),
      createdAtMs: now,
      schedule: { kind: 'ONE_SHOT', atMs: now + 5000 },
    }),
    buildTaskDefinition({
      taskId: 'invalid-cron',
      category: 'http',
      type: 'request',
      createdAtMs: now,
      schedule: { kind: 'CRON', cron: '61 * * * * *', timezone: 'UTC' },
    }),
  ]
}

/** One line for a result, aligned with the demo's `fired` lines. */
export function describeResult(result: TaskResult, time: (ms: number) => string): string {
  const at = time(result.finishedAtMs ?? result.startedAtMs ?? 0)
  const head = `result ${result.taskId.padEnd(16)} ${result.status.padEnd(9)} attempt ${result.attempt}  at ${at}Z`
  if (result.status === 'STARTED') return `${head}  worker ${result.workerId ?? '-'}`
  const took = result.durationMs === null ? '' : `  took ${result.durationMs} ms`
  const detail =
    result.error !== null
      ? `${result.error.code}${result.error.retriable ? ' (retriable)' : ''}: ${result.error.message}`
      : (result.output ?? '').slice(0, 100)
  return `${head}${took}  ${detail}`
}
