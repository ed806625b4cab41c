import { describe, expect, it } from 'vitest'
import { ensureLocalServices, localServices, type LocalService } from '../../../bench/lib/local-services.ts'

function fake(name: string, port: number, calls: string[], startResult = true): LocalService {
  return {
    name,
    port,
    start: () => {
      calls.push(`start ${name}`)
      return Promise.resolve(startResult)
    },
    stop: () => {
      calls.push(`stop ${name}`)
      return Promise.resolve(true)
    },
  }
}

describe('bench local services', () => {
  it('starts what does not answer, leaves what answers, and stops only what it started, in reverse order', async () => {
    const calls: string[] = []
    const lines: string[] = []
    const services = [fake('kafka', 1, calls), fake('registry', 2, calls), fake('other', 3, calls)]
    const stop = await ensureLocalServices(
      services,
      (l) => lines.push(l),
      (port) => Promise.resolve(port === 2),
    )
    expect(calls).toEqual(['start kafka', 'start other'])
    expect(lines).toEqual(['registry: using what already answers on 127.0.0.1:2'])
    await stop()
    expect(calls).toEqual(['start kafka', 'start other', 'stop other', 'stop kafka'])
  })

  it('does not stop a service whose start found it already running', async () => {
    const calls: string[] = []
    const stop = await ensureLocalServices(
      [fake('kafka', 1, calls, false)],
      () => {},
      () => Promise.resolve(false),
    )
    await stop()
    expect(calls).toEqual(['start kafka'])
  })

  it('looks after neither service when the environment names both', () => {
    expect(localServices({ KAFKA_BROKERS: 'b:9092', SCHEMA_REGISTRY_URL: 'http://r' })).toEqual([])
    expect(localServices({ KAFKA_BROKERS: 'b:9092' }).map((s) => s.name)).toEqual(['registry'])
    expect(localServices({}).map((s) => s.name)).toEqual(['kafka', 'registry'])
  })
})
