import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { builtinHandlers } from '../../../workers/builtins/builtin-handlers.ts'
import { AddressChecker } from '../../../workers/builtins/ssrf-guard.ts'
import type { Handler } from '../../../workers/handler.ts'
import {
  echoServer,
  elasticsearchStandIn,
  kubernetesApiStandIn,
  selfSignedCertificate,
  smtpSink,
  type EchoServer,
} from '../../helpers/stand-ins.ts'
import { waitFor } from '../../helpers/kafka.ts'
import { execution, runHandler } from './run-handler.ts'

// Test-only name resolution for the DNS cases; everything else resolves through the system resolver.
const names: Record<string, string[]> = {
  'metadata.test': ['169.254.169.254'],
  'intranet.test': ['93.184.216.34', '10.0.0.5'],
  'loopback.test': ['127.0.0.1'],
}
const resolve = async (host: string): Promise<string[]> => {
  const known = names[host]
  if (known) return known
  const { lookup } = await import('node:dns/promises')
  return (await lookup(host, { all: true })).map((a) => a.address)
}
const loopbackAllowed = builtinHandlers({ allow: ['loopback'] }, resolve)
const strict = builtinHandlers({ allow: [] }, resolve)
afterAll(async () => {
  await loopbackAllowed.close()
  await strict.close()
})
const find = (set: { handlers: Handler[] }, category: string, type: string): Handler =>
  set.handlers.find((h) => h.category === category && h.type === type)!

describe('http request', () => {
  let echo: EchoServer
  beforeAll(async () => {
    echo = await echoServer()
  })
  const http = (): Handler => find(loopbackAllowed, 'http', 'request')

  it('sends the request and reports status, capped body and timing', async () => {
    const { result, logs } = await runHandler(
      http(),
      execution('http', 'request', { method: 'POST', url: `${echo.url}/hook?x=1`, body: { hello: 'world' } }),
    )
    expect(result.status).toBe('SUCCEEDED')
    const out = JSON.parse(result.output!)
    expect(out.status).toBe(200)
    expect(JSON.parse(out.body)).toMatchObject({ method: 'POST', path: '/hook?x=1', body: '{"hello":"world"}' })
    expect(out.headers['content-type']).toBe('application/json')
    expect(out.durationMs).toBeGreaterThanOrEqual(0)
    expect(logs.map((l) => l.message)[0]).toBe(`POST ${echo.url}/hook?x=1`)
  })

  it('never shows secrets from headers, URL userinfo or query, even when the server echoes them', async () => {
    const { result, logs } = await runHandler(
      http(),
      execution('http', 'request', {
        url: `http://svc-user:pa55word-xyz@127.0.0.1:${new URL(echo.url).port}/x?token=tok-secret-123&page=2`,
        headers: { 'X-Api-Key': 'key-secret-456', Cookie: 'session=cookie-secret-789' },
      }),
    )
    expect(result.status).toBe('SUCCEEDED')
    const last = echo.requests.at(-1)!
    expect(last.headers['x-api-key']).toBe('key-secret-456') // it really was sent
    expect(last.headers.authorization).toBe(`Basic ${Buffer.from('svc-user:pa55word-xyz').toString('base64')}`)
    const everything = JSON.stringify([result, logs])
    for (const secret of [
      'pa55word-xyz',
      'tok-secret-123',
      'key-secret-456',
      'cookie-secret-789',
      Buffer.from('svc-user:pa55word-xyz').toString('base64'),
    ]) {
      expect(everything).not.toContain(secret)
    }
    expect(everything).toContain('[REDACTED]')
    expect(JSON.parse(result.output!).url).toContain('token=REDACTED&page=2')
  })

  it('fails on an unexpected status: retriable for 5xx and 429, not for other 4xx; expected statuses pass', async () => {
    const r503 = await runHandler(http(), execution('http', 'request', { url: `${echo.url}/?status=503` }))
    expect(r503.result.error).toMatchObject({ code: 'FLEXTASK_HTTP_UNEXPECTED_STATUS', retriable: true })
    expect(r503.result.error!.message).toContain('answered 503')
    const r429 = await runHandler(http(), execution('http', 'request', { url: `${echo.url}/?status=429` }))
    expect(r429.result.error?.retriable).toBe(true)
    const r404 = await runHandler(http(), execution('http', 'request', { url: `${echo.url}/?status=404` }))
    expect(r404.result.error).toMatchObject({ code: 'FLEXTASK_HTTP_UNEXPECTED_STATUS', retriable: false })
    const ok404 = await runHandler(
      http(),
      execution('http', 'request', { url: `${echo.url}/?status=404`, expectedStatus: [404] }),
    )
    expect(ok404.result.status).toBe('SUCCEEDED')
  })

  it('caps the response body and times out a slow server with a retriable error', async () => {
    const capped = await runHandler(
      http(),
      execution('http', 'request', { url: `${echo.url}/${'a'.repeat(500)}`, maxResponseBytes: 100 }),
    )
    const out = JSON.parse(capped.result.output!)
    expect(out.truncated).toBe(true)
    expect(out.body).toHaveLength(100)
    const slow = await runHandler(
      http(),
      execution('http', 'request', { url: `${echo.url}/?delayMs=3000`, timeoutMs: 200 }),
    )
    expect(slow.result.error).toMatchObject({ code: 'FLEXTASK_HTTP_TIMEOUT', retriable: true })
  })

  it('rejects an invalid payload naming the field, not retriable', async () => {
    const { result } = await runHandler(http(), execution('http', 'request', { url: 'ftp://x', timeoutMs: -1 }))
    expect(result.status).toBe('FAILED')
    expect(result.error).toMatchObject({ code: 'FLEXTASK_WORKER_PAYLOAD_INVALID', retriable: false })
    expect(result.error!.message).toContain('payload.url')
    expect(result.error!.message).toContain('payload.timeoutMs')
  })

  it('close() releases the kept-alive connections, so a closed worker leaves no socket behind', async () => {
    const server = await echoServer()
    const own = builtinHandlers({ allow: ['loopback'] }, resolve)
    const { result } = await runHandler(find(own, 'http', 'request'), execution('http', 'request', { url: server.url }))
    expect(result.status).toBe('SUCCEEDED')
    expect(await server.openConnections()).toBe(1)
    await own.close()
    await waitFor(
      'the server to see the connection closed',
      async () => ((await server.openConnections()) === 0 ? true : undefined),
      1_000, // well inside the 4 s keep-alive after which the agent would drop it by itself
    )
  })
})

describe('SSRF guard', () => {
  it('classifies addresses: only unicast passes unless a range or CIDR is allowed', () => {
    const none = new AddressChecker({ allow: [] })
    for (const a of [
      '127.0.0.1',
      '::1',
      '::ffff:127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      'fd00::1',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
    ]) {
      expect(none.refusal(a), a).toBeDefined()
    }
    expect(none.refusal('93.184.216.34')).toBeUndefined()
    const some = new AddressChecker({ allow: ['loopback', '10.20.0.0/16'] })
    expect(some.refusal('127.0.0.1')).toBeUndefined()
    expect(some.refusal('::ffff:7f00:1')).toBeUndefined()
    expect(some.refusal('10.20.3.4')).toBeUndefined()
    expect(some.refusal('10.21.3.4')).toContain('private')
    expect(some.refusal('169.254.169.254')).toContain('linkLocal')
  })

  it('refuses loopback, private and metadata addresses at connect time, as literals and via DNS names', async () => {
    const echo = await echoServer()
    const port = new URL(echo.url).port
    const http = find(strict, 'http', 'request')
    const urls = [
      `http://127.0.0.1:${port}/`,
      `http://[::ffff:7f00:1]:${port}/`,
      `http://localhost:${port}/`,
      `http://loopback.test:${port}/`,
      'http://10.0.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://metadata.test/latest/meta-data/',
      'http://intranet.test/',
    ]
    for (const url of urls) {
      const { result } = await runHandler(http, execution('http', 'request', { url, timeoutMs: 2000 }))
      expect(result.error, url).toMatchObject({ code: 'FLEXTASK_HTTP_ADDRESS_REFUSED', retriable: false })
    }
    expect(echo.requests).toHaveLength(0)
    const allowed = await runHandler(
      find(loopbackAllowed, 'http', 'request'),
      execution('http', 'request', { url: `http://localhost:${port}/` }),
    )
    expect(allowed.result.status).toBe('SUCCEEDED')
  })
})

describe('email send against a real SMTP server process', () => {
  it('delivers the message (asserted on the server) and fails a 550 recipient for good', async () => {
    const sink = await smtpSink()
    const email = find(loopbackAllowed, 'email', 'send')
    const payload = {
      host: '127.0.0.1',
      port: sink.port,
      starttls: 'never',
      auth: { user: 'robot', pass: 'smtp-secret-pass' },
      from: 'flextask@example.test',
      to: ['ops@example.test'],
      cc: 'lead@example.test',
      subject: 'Nightly report',
      text: 'All 42 checks passed.',
    }
    const { result, logs } = await runHandler(email, execution('email', 'send', payload, { executionId: 'mail:1' }))
    expect(result.status, JSON.stringify(result.error)).toBe('SUCCEEDED')
    expect(JSON.parse(result.output!).accepted).toEqual(['ops@example.test', 'lead@example.test'])
    const arrived = sink.messages.at(-1)!
    expect(arrived.from).toBe('flextask@example.test')
    expect(arrived.user).toBe('robot')
    expect(arrived.to).toEqual(['ops@example.test', 'lead@example.test'])
    expect(arrived.raw).toContain('Subject: Nightly report')
    expect(arrived.raw).toContain('All 42 checks passed.')
    expect(arrived.raw).toMatch(/^X-Flextask-Execution-Id: mail:1\r$/im)
    expect(JSON.stringify([result, logs])).not.toContain('smtp-secret-pass')

    const rejected = await runHandler(
      email,
      execution('email', 'send', { ...payload, to: 'nobody@reject.test', cc: undefined }),
    )
    expect(rejected.result.error).toMatchObject({ code: 'FLEXTASK_EMAIL_REJECTED', retriable: false })
    expect(rejected.result.error!.message).toContain('550')

    const refused = await runHandler(find(strict, 'email', 'send'), execution('email', 'send', payload))
    expect(refused.result.error?.code).toBe('FLEXTASK_HTTP_ADDRESS_REFUSED')
  }, 30_000) // starts a child process (the SMTP sink waits up to 20 s for it): slow on a loaded machine
})

describe('kubernetes against an API server stand-in', () => {
  it('HealthCheck passes on /readyz and /livez 200 and fails naming the failed check; bad token is not retriable', async () => {
    const kube = await kubernetesApiStandIn('sa-token-abc')
    const check = find(loopbackAllowed, 'kubernetes', 'HealthCheck')
    const ok = await runHandler(
      check,
      execution('kubernetes', 'HealthCheck', { server: kube.url, token: 'sa-token-abc' }),
    )
    expect(ok.result.status).toBe('SUCCEEDED')
    expect(JSON.parse(ok.result.output!).readyz.checks).toContain('[+]etcd ok')
    expect(JSON.stringify(ok)).not.toContain('sa-token-abc')
    kube.state.failingChecks = ['etcd']
    const bad = await runHandler(
      check,
      execution('kubernetes', 'HealthCheck', { server: kube.url, token: 'sa-token-abc' }),
    )
    expect(bad.result.error).toMatchObject({ code: 'FLEXTASK_K8S_UNHEALTHY', retriable: true })
    expect(bad.result.error!.message).toContain('etcd failed: reason withheld')
    const denied = await runHandler(check, execution('kubernetes', 'HealthCheck', { server: kube.url, token: 'wrong' }))
    expect(denied.result.error).toMatchObject({ code: 'FLEXTASK_K8S_API_ERROR', retriable: false })
    expect(denied.result.error!.message).toContain('401')
  })

  it('NodeCheck names each node that is not Ready, over https with a CA certificate', async () => {
    const tls = selfSignedCertificate()
    const kube = await kubernetesApiStandIn('sa-token-abc', tls)
    kube.state.nodes = [
      { name: 'node-a', ready: 'True' },
      { name: 'node-b', ready: 'False' },
      { name: 'node-c', ready: 'Unknown' },
    ]
    const check = find(loopbackAllowed, 'kubernetes', 'NodeCheck')
    const payload = { server: kube.url, token: 'sa-token-abc', ca: tls.cert }
    const bad = await runHandler(check, execution('kubernetes', 'NodeCheck', payload))
    expect(bad.result.error).toMatchObject({ code: 'FLEXTASK_K8S_NODES_NOT_READY', retriable: true })
    expect(bad.result.error!.message).toBe(
      '2 of 3 nodes not ready: node-b (Ready=False, KubeletNotReady), node-c (Ready=Unknown, NodeStatusUnknown)',
    )
    kube.state.nodes = [{ name: 'node-a', ready: 'True' }]
    const ok = await runHandler(check, execution('kubernetes', 'NodeCheck', payload))
    expect(JSON.parse(ok.result.output!)).toEqual({ nodes: 1, ready: 1, names: ['node-a'] })
    const untrusted = await runHandler(
      check,
      execution('kubernetes', 'NodeCheck', { server: kube.url, token: 'sa-token-abc' }),
    )
    expect(untrusted.result.error?.code).toBe('FLEXTASK_HTTP_REQUEST_FAILED')
  })
})

describe('elasticsearch ClusterHealth against a stand-in', () => {
  it('reports status and shard counts, fails below minStatus, reads a 408 body, refuses bad credentials', async () => {
    const es = await elasticsearchStandIn('elastic', 'es-secret-pw')
    const health = find(loopbackAllowed, 'elasticsearch', 'ClusterHealth')
    const basic = { username: 'elastic', password: 'es-secret-pw' }
    const green = await runHandler(health, execution('elasticsearch', 'ClusterHealth', { url: es.url, basic }))
    expect(JSON.parse(green.result.output!)).toMatchObject({
      status: 'green',
      activeShards: 20,
      unassignedShards: 0,
      nodes: 3,
    })
    es.state.status = 'yellow'
    es.state.unassigned = 5
    const yellow = await runHandler(health, execution('elasticsearch', 'ClusterHealth', { url: es.url, basic }))
    expect(yellow.result.error).toMatchObject({ code: 'FLEXTASK_ES_CLUSTER_UNHEALTHY', retriable: true })
    expect(yellow.result.error!.message).toContain('is yellow, required green or better; unassigned shards 5')
    const tolerant = await runHandler(
      health,
      execution('elasticsearch', 'ClusterHealth', { url: es.url, basic, minStatus: 'yellow' }),
    )
    expect(tolerant.result.status).toBe('SUCCEEDED')
    const waited = await runHandler(
      health,
      execution('elasticsearch', 'ClusterHealth', {
        url: es.url,
        basic,
        waitForStatus: 'green',
        waitSeconds: 1,
        minStatus: 'yellow',
      }),
    )
    expect(waited.result.status).toBe('SUCCEEDED')
    expect(JSON.parse(waited.result.output!)).toMatchObject({ status: 'yellow', timedOut: true })
    es.state.status = 'red'
    const red408 = await runHandler(
      health,
      execution('elasticsearch', 'ClusterHealth', { url: es.url, basic, waitForStatus: 'green', waitSeconds: 1 }),
    )
    expect(red408.result.error!.message).toContain('is red')
    expect(red408.result.error!.message).toContain('the wait for status timed out')
    const denied = await runHandler(
      health,
      execution('elasticsearch', 'ClusterHealth', { url: es.url, basic: { username: 'elastic', password: 'nope' } }),
    )
    expect(denied.result.error).toMatchObject({ code: 'FLEXTASK_ES_API_ERROR', retriable: false })
    expect(JSON.stringify([green, yellow, denied])).not.toContain('es-secret-pw')
  })
})
