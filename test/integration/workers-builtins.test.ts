/**
 * From a definition to a SUCCEEDED result for each built-in type, through the real scheduler and a worker
 * component on the real broker, against loopback stand-ins (echo server, SMTP server process, Kubernetes API,
 * Elasticsearch); and an SSRF refusal ending DEAD (not retriable) when loopback is not allowed.
 */
import { describe, expect, it } from 'vitest'
import { HandlerRegistry } from '../../workers/handler.ts'
import { taskDefinition } from '../helpers/scheduler.ts'
import { echoServer, elasticsearchStandIn, kubernetesApiStandIn, smtpSink } from '../helpers/stand-ins.ts'
import { workerStack } from '../helpers/workers.ts'

describe('built-in handlers end to end', () => {
  it('runs http, email, internal, kubernetes and elasticsearch definitions to SUCCEEDED', async () => {
    const [echo, sink, kube, es] = await Promise.all([
      echoServer(),
      smtpSink(),
      kubernetesApiStandIn('sa-token'),
      elasticsearchStandIn('elastic', 'pw'),
    ])
    kube.state.nodes = [{ name: 'node-a', ready: 'True' }]
    const stack = await workerStack(['http', 'email', 'internal', 'kubernetes', 'elasticsearch'])
    const purged: string[] = []
    const handlers = new HandlerRegistry().registerInternal('purge-cache', (ctx) => {
      purged.push(ctx.executionId)
      return { purged: 3 }
    })
    await stack.startWorker(handlers)
    const at = Date.now() + 500
    const one = { kind: 'ONE_SHOT' as const, atMs: at }
    const defs = [
      taskDefinition('http-1', one, {
        category: 'http',
        type: 'request',
        payload: JSON.stringify({ url: `${echo.url}/ping` }),
      }),
      taskDefinition('email-1', one, {
        category: 'email',
        type: 'send',
        payload: JSON.stringify({
          host: '127.0.0.1',
          port: sink.port,
          starttls: 'never',
          from: 'a@example.test',
          to: 'b@example.test',
          subject: 'hello from flextask',
          text: 'hi',
        }),
      }),
      taskDefinition('internal-1', one, { category: 'internal', type: 'purge-cache' }),
      taskDefinition('k8s-health-1', one, {
        category: 'kubernetes',
        type: 'HealthCheck',
        payload: JSON.stringify({ server: kube.url, token: 'sa-token' }),
      }),
      taskDefinition('k8s-nodes-1', one, {
        category: 'kubernetes',
        type: 'NodeCheck',
        payload: JSON.stringify({ server: kube.url, token: 'sa-token' }),
      }),
      taskDefinition('es-1', one, {
        category: 'elasticsearch',
        type: 'ClusterHealth',
        payload: JSON.stringify({ url: es.url, basic: { username: 'elastic', password: 'pw' } }),
      }),
    ]
    await stack.define(defs)
    const results = await stack.waitForResults('every built-in to succeed', (rs) =>
      defs.every((d) => rs.some((r) => r.taskId === d.taskId && r.status !== 'STARTED')),
    )
    for (const d of defs) {
      const terminal = results.filter((r) => r.taskId === d.taskId && r.status !== 'STARTED')
      expect(
        terminal.map((r) => r.status),
        `${d.taskId}: ${JSON.stringify(terminal[0]?.error)}`,
      ).toEqual(['SUCCEEDED'])
    }
    expect(echo.requests.map((r) => r.path)).toEqual(['/ping'])
    expect(sink.messages.map((m) => m.raw.includes('Subject: hello from flextask'))).toEqual([true])
    expect(purged).toHaveLength(1)
    const es1 = results.find((r) => r.taskId === 'es-1' && r.status === 'SUCCEEDED')!
    expect(JSON.parse(es1.output!)).toMatchObject({ status: 'green', activeShards: 20 })
  })

  it('refuses a loopback URL when loopback is not allowed: FAILED not retriable, then DEAD, nothing sent', async () => {
    const echo = await echoServer()
    const stack = await workerStack(['http'])
    await stack.startWorker(new HandlerRegistry(), { ssrfAllow: [] })
    const retry = { maxAttempts: 3, backoffBaseMs: 100, backoffFactor: 1, backoffMaxMs: 100, jitterRatio: 0 }
    await stack.define([
      taskDefinition(
        'ssrf-1',
        { kind: 'ONE_SHOT', atMs: Date.now() + 300 },
        {
          category: 'http',
          type: 'request',
          payload: JSON.stringify({ url: `http://localhost:${new URL(echo.url).port}/admin` }),
          retry,
        },
      ),
    ])
    const results = await stack.waitForResults('the refusal to end DEAD', (rs) => rs.some((r) => r.status === 'DEAD'))
    expect(results.map((r) => `${r.attempt}:${r.status}`)).toEqual(['1:STARTED', '1:FAILED', '1:DEAD'])
    expect(results[1]!.error).toMatchObject({ code: 'FLEXTASK_HTTP_ADDRESS_REFUSED', retriable: false })
    expect(results[1]!.error!.message).toContain('127.0.0.1')
    expect(echo.requests).toHaveLength(0)
  })
})
