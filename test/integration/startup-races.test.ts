/**
 * Startup against the real Schema Registry: instances that start at the same moment on fresh subjects all
 * succeed (Apicurio answers the loser of the PUT /config race 409), and a registry that is down at start is
 * waited out with backoff, up to a give-up deadline.
 */
import { randomUUID } from 'node:crypto'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AvroSerde } from '../../schemas/avro-serde.ts'
import { RegistryClient } from '../../schemas/registry-client.ts'
import { createSerdeRegistry } from '../../schemas/serde-registry.ts'
import { taskDefinitionSchema } from '../../schemas/task-definition.ts'
import { topicNames } from '../../topics.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'

const servers: Server[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve))
})

/** A plain HTTP forwarder to the real registry, started later on a port chosen now: "the registry comes up". */
function forwarderTo(target: URL, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const upstream = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  servers.push(server)
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)))
}

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

describe('startup races and a registry that is not up yet', () => {
  it('four schedulers registering their schemas at the same moment on fresh subjects all start', async () => {
    for (let round = 0; round < 5; round++) {
      const topics = topicNames(`ft-lv-race-${randomUUID().slice(0, 8)}`)
      // What each scheduler's start does: register every schema of the prefix, each with its own client.
      const instances = Array.from({ length: 4 }, () =>
        createSerdeRegistry(new RegistryClient(schemaRegistryUrl), topics),
      )
      const started = await Promise.allSettled(instances.map((serdes) => serdes.init()))
      const failures = started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []))
      expect(failures).toEqual([])
      const ids = instances.map((serdes) => serdes.definition.schemaId)
      expect(new Set(ids).size).toBe(1)
    }
  })

  it('waits out a registry that comes up 2 s after start, logging each retry', async () => {
    const port = await freePort()
    const retries: string[] = []
    const client = new RegistryClient(`http://127.0.0.1:${port}/apis/ccompat/v7`, {
      requestTimeoutMs: 2000,
      onRetry: (e) => retries.push(`${e.what} #${e.attempt}`),
    })
    const serde = new AvroSerde(`ft-lv-late-${randomUUID()}-value`, taskDefinitionSchema, client)
    setTimeout(() => void forwarderTo(new URL(schemaRegistryUrl), port), 2000)
    await serde.init()
    expect(serde.schemaId).toBeGreaterThan(0)
    expect(retries.length).toBeGreaterThan(0)
    expect(retries[0]).toMatch(/^setting ft-lv-late-.* to BACKWARD_TRANSITIVE #1$/)
  })

  it('gives up after startupGiveUpAfterMs and says so', async () => {
    const port = await freePort()
    const client = new RegistryClient(`http://127.0.0.1:${port}/apis/ccompat/v7`, {
      startupGiveUpAfterMs: 1500,
      onRetry: () => undefined,
    })
    const serde = new AvroSerde(`ft-lv-down-${randomUUID()}-value`, taskDefinitionSchema, client)
    await expect(serde.init()).rejects.toThrow(/gave up after 1500 ms \(\d+ attempts\)/)
  })
})
