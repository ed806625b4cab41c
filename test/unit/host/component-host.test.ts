/**
 * The component host with stand-in components (the real scheduler is covered by the integration tests): start in
 * dependency order, close in reverse, the grace period, fatal errors and failed starts, and the ops endpoints.
 */
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import type { Component, Health } from '../../../component.ts'
import { FlextaskError } from '../../../errors.ts'
import { ComponentHost } from '../../../host/component-host.ts'
import { createLogger, silentLogger } from '../../../logger.ts'
import { createMetrics } from '../../../metrics.ts'

class FakeComponent implements Component {
  readonly name: string
  readonly #log: string[]
  #fatal: ((error: Error) => void) | undefined
  #health: Health = { live: true, ready: false, reasons: ['not started'] }
  startGate: Promise<void> = Promise.resolve()
  closeMs = 0
  failStart: Error | undefined

  constructor(name: string, log: string[]) {
    this.name = name
    this.#log = log
  }

  async start(): Promise<void> {
    this.#log.push(`start ${this.name}`)
    await this.startGate
    if (this.failStart !== undefined) throw this.failStart
    this.#health = { live: true, ready: true, reasons: [] }
  }

  async close(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.closeMs))
    this.#log.push(`close ${this.name}`)
    this.#health = { live: true, ready: false, reasons: ['closed'] }
  }

  health(): Health {
    return this.#health
  }

  onFatal(listener: (error: Error) => void): void {
    this.#fatal = listener
  }

  fail(error: Error): void {
    this.#health = { live: false, ready: false, reasons: [error.message] }
    this.#fatal?.(error)
  }
}

function fakes(log: string[], ...names: string[]): FakeComponent[] {
  return names.map((name) => new FakeComponent(name, log))
}

function host(components: Component[], shutdownGraceMs = 5000, ops = false): ComponentHost {
  return new ComponentHost({
    components,
    logger: silentLogger,
    metrics: createMetrics(),
    shutdownGraceMs,
    ...(ops ? { ops: { port: 0, host: '127.0.0.1' } } : {}),
  })
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe('ComponentHost', () => {
  it('starts in dependency order, closes in reverse on stop, and exits 0', async () => {
    const log: string[] = []
    const [a, b, c] = fakes(log, 'a', 'b', 'c')
    const h = host([a!, b!, c!])
    const outcome = h.run()
    await until(() => c!.health().ready)
    expect(Object.values(h.health()).every((x) => x.ready)).toBe(true)
    void h.stop('received SIGTERM')
    expect(await outcome).toEqual({ exitCode: 0, reason: 'received SIGTERM' })
    expect(log).toEqual(['start a', 'start b', 'start c', 'close c', 'close b', 'close a'])
  })

  it('stops everything started when one component fails, and exits 1 naming it', async () => {
    const log: string[] = []
    const [a, b] = fakes(log, 'a', 'b')
    const h = host([a!, b!])
    const outcome = h.run()
    await until(() => b!.health().ready)
    a!.fail(new FlextaskError('FLEXTASK_TOPOLOGY_FENCED', 'fenced by a newer instance\nsecond line'))
    expect(await outcome).toEqual({
      exitCode: 1,
      reason: 'a failed: FLEXTASK_TOPOLOGY_FENCED: fenced by a newer instance',
    })
    expect(log.slice(2)).toEqual(['close b', 'close a'])
  })

  it('does not start the rest when one cannot start, and exits 1 with its reason', async () => {
    const log: string[] = []
    const [a, b, c] = fakes(log, 'a', 'b', 'c')
    b!.failStart = new Error('registry unreachable')
    expect(await host([a!, b!, c!]).run()).toEqual({
      exitCode: 1,
      reason: 'b could not start: FLEXTASK_UNKNOWN: registry unreachable',
    })
    expect(log).toEqual(['start a', 'start b', 'close b', 'close a'])
  })

  it('treats a stop during start as a stop: the pending start is abandoned and the exit code is 0', async () => {
    const log: string[] = []
    const [a, b] = fakes(log, 'a', 'b')
    let release: () => void = () => undefined
    a!.startGate = new Promise((resolve) => (release = resolve))
    const h = host([a!, b!])
    const outcome = h.run()
    await until(() => log.length === 1)
    const stopped = h.stop('received SIGINT')
    release()
    expect(await stopped).toEqual({ exitCode: 0, reason: 'received SIGINT' })
    expect(await outcome).toEqual({ exitCode: 0, reason: 'received SIGINT' })
    expect(log).toEqual(['start a', 'close a'])
  })

  it('exits 1 naming the components that did not close within the grace period', async () => {
    const log: string[] = []
    const [a, b] = fakes(log, 'a', 'b')
    b!.closeMs = 10_000
    const h = host([a!, b!], 50)
    const outcome = h.run()
    await until(() => b!.health().ready)
    const startedAt = performance.now()
    void h.stop('received SIGTERM')
    expect(await outcome).toEqual({ exitCode: 1, reason: 'received SIGTERM; not closed within 50 ms: b, a' })
    expect(performance.now() - startedAt).toBeLessThan(5000)
  })

  it('serves /health/live, /health/ready (503 with reasons until ready) and /metrics on its ops port', async () => {
    const log: string[] = []
    const a = new FakeComponent('a', log)
    let release: () => void = () => undefined
    a.startGate = new Promise((resolve) => (release = resolve))
    const h = host([a], 5000, true)
    const outcome = h.run()
    await until(() => h.opsPort !== undefined)
    const base = `http://127.0.0.1:${h.opsPort}`
    const notReady = await fetch(`${base}/health/ready`)
    expect(notReady.status).toBe(503)
    expect(await notReady.json()).toEqual({
      status: 'unavailable',
      components: { a: { live: true, ready: false, reasons: ['not started'] } },
    })
    expect((await fetch(`${base}/health/live`)).status).toBe(200)
    release()
    await until(() => a.health().ready)
    expect((await fetch(`${base}/health/ready`)).status).toBe(200)
    const metrics = await fetch(`${base}/metrics`)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await metrics.text()).toContain('# TYPE flextask_scheduler_fires_total counter')
    expect((await fetch(`${base}/nothing`)).status).toBe(404)
    await h.stop('test over')
    await outcome
    await expect(fetch(`${base}/health/live`)).rejects.toThrow()
  })
})

describe('createLogger', () => {
  it('writes JSON lines with the level label, child bindings and coded errors', () => {
    const lines: string[] = []
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString())
        callback()
      },
    })
    const logger = createLogger({ level: 'debug', pretty: false, base: { instanceId: 'i-1' }, destination })
    const child = logger.child({ component: 'scheduler' }).child({ partition: 3, generation: 7 })
    child.debug({ err: new FlextaskError('FLEXTASK_TOPOLOGY_FENCED', 'fenced') }, 'ignored a failure')
    logger.info('plain message')
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(first).toMatchObject({
      level: 'debug',
      instanceId: 'i-1',
      component: 'scheduler',
      partition: 3,
      generation: 7,
      msg: 'ignored a failure',
      err: { type: 'FlextaskError', message: 'fenced', code: 'FLEXTASK_TOPOLOGY_FENCED' },
    })
    expect(second).toMatchObject({ level: 'info', msg: 'plain message' })
    expect(typeof second?.time).toBe('number')
  })
})
