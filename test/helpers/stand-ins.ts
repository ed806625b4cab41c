/**
 * Named stand-ins for the services the built-in handlers talk to, on loopback, answering like the documented APIs
 * including their failure shapes:
 * - `echoServer`: any request → 200 JSON {method, path, headers, body} (or the status in `?status=`; `?delayMs=`).
 * - `kubernetesApiStandIn`: `/readyz?verbose`, `/livez?verbose` (the `[+]name ok` / `[-]name failed: reason
 *   withheld` lines, 200 or 500), `/api/v1/nodes` (a v1 NodeList), 401 `Status` without the bearer token.
 * - `elasticsearchStandIn`: `/_cluster/health` (200, or 408 with a full body when a `wait_for_status` is not
 *   reached), 401 `security_exception` without basic auth.
 * - `smtpSink`: a real smtp-server in a child process (test/fixtures/smtp-sink.ts) reporting each message.
 * All are closed when the test file ends.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { onCleanup } from './cleanup.ts'
import { waitFor } from './kafka.ts'

type Route = (req: IncomingMessage, body: string, res: ServerResponse) => void

async function serve(route: Route, tls?: { key: string; cert: string }): Promise<{ url: string; server: Server }> {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => route(req, Buffer.concat(chunks).toString('utf8'), res))
  }
  const server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const port = (server.address() as AddressInfo).port
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, server }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(value))
}

export interface EchoServer {
  url: string
  /** Connections open on the server now (kept-alive ones included). */
  openConnections(): Promise<number>
  requests: { method: string; path: string; headers: Record<string, string | string[] | undefined>; body: string }[]
}

export async function echoServer(): Promise<EchoServer> {
  const requests: EchoServer['requests'] = []
  const { url, server } = await serve((req, body, res) => {
    const u = new URL(req.url ?? '/', 'http://x')
    requests.push({ method: req.method ?? '', path: u.pathname + u.search, headers: req.headers, body })
    const answer = (): void =>
      json(res, Number(u.searchParams.get('status') ?? 200), {
        method: req.method,
        path: u.pathname + u.search,
        headers: req.headers,
        body,
      })
    const delay = Number(u.searchParams.get('delayMs') ?? 0)
    if (delay > 0) setTimeout(answer, delay)
    else answer()
  })
  const openConnections = (): Promise<number> =>
    new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))))
  return { url, requests, openConnections }
}

export interface StandInNode {
  name: string
  ready: 'True' | 'False' | 'Unknown'
}

export interface KubernetesStandIn {
  url: string
  state: { failingChecks: string[]; nodes: StandInNode[] }
}

const kubeChecks = ['ping', 'log', 'etcd', 'informer-sync', 'poststarthook/start-apiserver-admission-initializer']

export async function kubernetesApiStandIn(
  token: string,
  tls?: { key: string; cert: string },
): Promise<KubernetesStandIn> {
  const state: KubernetesStandIn['state'] = { failingChecks: [], nodes: [] }
  const { url } = await serve((req, _body, res) => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      json(res, 401, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      })
      return
    }
    const u = new URL(req.url ?? '/', 'http://x')
    if (u.pathname === '/readyz' || u.pathname === '/livez') {
      const lines = kubeChecks.map((c) =>
        state.failingChecks.includes(c) ? `[-]${c} failed: reason withheld` : `[+]${c} ok`,
      )
      const ok = state.failingChecks.length === 0
      res.writeHead(ok ? 200 : 500, {
        'content-type': 'text/plain; charset=utf-8',
        'x-content-type-options': 'nosniff',
      })
      res.end(`${lines.join('\n')}\n${u.pathname.slice(1)} check ${ok ? 'passed' : 'failed'}\n`)
      return
    }
    if (u.pathname === '/api/v1/nodes') {
      json(res, 200, {
        kind: 'NodeList',
        apiVersion: 'v1',
        metadata: { resourceVersion: '12345' },
        items: state.nodes.map((n) => ({
          metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
          status: {
            conditions: [
              { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory' },
              n.ready === 'True'
                ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }
                : n.ready === 'False'
                  ? {
                      type: 'Ready',
                      status: 'False',
                      reason: 'KubeletNotReady',
                      message: 'container runtime network not ready',
                    }
                  : {
                      type: 'Ready',
                      status: 'Unknown',
                      reason: 'NodeStatusUnknown',
                      message: 'Kubelet stopped posting node status.',
                    },
            ],
          },
        })),
      })
      return
    }
    json(res, 404, {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: 'the server could not find the requested resource',
      reason: 'NotFound',
      code: 404,
    })
  }, tls)
  return { url, state }
}

export interface ElasticsearchStandIn {
  url: string
  state: { status: 'green' | 'yellow' | 'red'; unassigned: number }
}

export async function elasticsearchStandIn(username: string, password: string): Promise<ElasticsearchStandIn> {
  const state: ElasticsearchStandIn['state'] = { status: 'green', unassigned: 0 }
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  const rank = { red: 0, yellow: 1, green: 2 }
  const { url } = await serve((req, _body, res) => {
    const u = new URL(req.url ?? '/', 'http://x')
    if (req.headers.authorization !== expected) {
      const cause = {
        type: 'security_exception',
        reason: `missing authentication credentials for REST request [${u.pathname}]`,
        header: { 'WWW-Authenticate': 'Basic realm="security" charset="UTF-8"' },
      }
      json(res, 401, { error: { root_cause: [cause], ...cause }, status: 401 })
      return
    }
    if (u.pathname !== '/_cluster/health') {
      json(res, 404, { error: 'no handler found', status: 404 })
      return
    }
    const wait = u.searchParams.get('wait_for_status') as keyof typeof rank | null
    const timedOut = wait !== null && rank[state.status] < rank[wait]
    json(res, timedOut ? 408 : 200, {
      cluster_name: 'stand-in-cluster',
      status: state.status,
      timed_out: timedOut,
      number_of_nodes: 3,
      number_of_data_nodes: 3,
      active_primary_shards: 10,
      active_shards: 20 - state.unassigned,
      relocating_shards: 0,
      initializing_shards: 0,
      unassigned_shards: state.unassigned,
      unassigned_primary_shards: 0,
      delayed_unassigned_shards: 0,
      number_of_pending_tasks: 0,
      number_of_in_flight_fetch: 0,
      task_max_waiting_in_queue_millis: 0,
      active_shards_percent_as_number: ((20 - state.unassigned) / 20) * 100,
    })
  })
  return { url, state }
}

export interface SmtpMessage {
  from: string
  to: string[]
  /** The authenticated user, null without AUTH. */
  user: string | null
  raw: string
}

export interface SmtpSink {
  port: number
  child: ChildProcess
  messages: SmtpMessage[]
}

const smtpFixture = fileURLToPath(new URL('../fixtures/smtp-sink.ts', import.meta.url))

/** A real smtp-server process on 127.0.0.1 (plain, auth optional); rejects recipients at `reject.test` with 550. */
export async function smtpSink(): Promise<SmtpSink> {
  const child = spawn(process.execPath, [smtpFixture], { stdio: ['ignore', 'pipe', 'inherit'] })
  const messages: SmtpMessage[] = []
  let port = 0
  let buffered = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      const event = JSON.parse(line) as { listening?: number; message?: SmtpMessage }
      if (event.listening !== undefined) port = event.listening
      if (event.message !== undefined) messages.push(event.message)
    }
  })
  // The sink must never outlive the test process: a live child (and its stdout pipe) kept vitest's fork worker, and
  // so `vitest run`, from exiting after every test had passed.
  const stop = () => {
    child.stdout?.destroy()
    child.kill('SIGKILL')
  }
  process.once('exit', stop)
  onCleanup(stop)
  await waitFor('the SMTP sink to listen', () => (port > 0 ? true : undefined), 20_000)
  return { port, child, messages }
}

/** A self-signed certificate for 127.0.0.1 / localhost (openssl), for the https stand-ins and CA settings. */
export function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ft-wk-cert-'))
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  )
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') }
}
