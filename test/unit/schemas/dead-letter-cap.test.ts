/**
 * Every writer of dead letters caps what it carries (schemas/dead-letter.ts cappedDeadLetter): a 2 MB original
 * becomes a prefix plus its size and SHA-256, so the dead letter fits the dead-letter topic's 1 MiB default and is
 * never refused and retried forever. Before, the worker and the sink copied the whole original (the scheduler
 * already capped its own).
 */
import { createHash } from 'node:crypto'
import type { Message } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { decodeRecord, type SinkKind } from '../../../connectors/record-decoder.ts'
import { createLogger } from '../../../logger.ts'
import { cappedDeadLetter, type DeadLetter } from '../../../schemas/dead-letter.ts'
import { createSerdeRegistry } from '../../../schemas/serde-registry.ts'
import { topicNames } from '../../../topics.ts'
import { decodeExecution } from '../../../workers/execution-decoder.ts'
import { MemoryRegistry } from '../../helpers/memory-registry.ts'

const topics = topicNames('ft-cap')
const twoMiB = 2 * 1024 * 1024
const garbage = Buffer.concat([Buffer.from([0xff]), Buffer.alloc(twoMiB - 1, 0x5a)])
const sha256 = createHash('sha256').update(garbage).digest('hex')

function expectCapped(deadLetter: DeadLetter): void {
  expect(deadLetter.originalValue?.length).toBeLessThan(1_000_000)
  expect(deadLetter.originalValue?.equals(garbage.subarray(0, deadLetter.originalValue.length))).toBe(true)
  expect(deadLetter.message).toContain(`originalValue truncated: ${twoMiB} bytes, sha256 ${sha256}`)
}

const message = (topic: string, value: Buffer) =>
  ({
    topic,
    partition: 0,
    offset: 7n,
    key: Buffer.from('t'),
    value,
    headers: new Map(),
    timestamp: 0n,
  }) as unknown as Message<Buffer, Buffer, Buffer, Buffer>

describe('dead letters of oversized originals', () => {
  it('keep a capped prefix, the size and the hash, and serialize under 1 MB; small ones are kept whole', async () => {
    const serdes = createSerdeRegistry(new MemoryRegistry(), topics)
    await serdes.init()
    const base: DeadLetter = {
      sourceTopic: 't',
      sourcePartition: 0,
      sourceOffset: 1,
      key: Buffer.from('k'),
      originalValue: garbage,
      reasonCode: 'UNDECODABLE',
      message: 'bad',
      failedAtMs: 0,
      taskId: 'k',
      executionId: null,
    }
    const capped = cappedDeadLetter(base)
    expectCapped(capped)
    expect(serdes.deadLetter.serialize(capped).length).toBeLessThan(1_000_000)
    const small = { ...base, originalValue: Buffer.from('small') }
    expect(cappedDeadLetter(small)).toEqual(small)
  })

  it('from the worker and from the sink, as from the scheduler', async () => {
    const serdes = createSerdeRegistry(new MemoryRegistry(), topics)
    await serdes.init()
    const sent: DeadLetter[] = []
    const outcome = await decodeExecution(
      {
        serde: serdes.execution,
        logger: createLogger({ level: 'silent' }),
        stopping: () => false,
        send: (d) => Promise.resolve(void sent.push(d)),
      },
      topics.executions('http'),
      message(topics.executions('http'), garbage),
    )
    expect(outcome).toBe('dead-lettered')
    expectCapped(sent[0] as DeadLetter)
    const kinds = new Map<string, SinkKind>([[topics.definitions, 'definition']])
    const decoded = await decodeRecord(message(topics.definitions, garbage), kinds, serdes, () => 0)
    expect('deadLetter' in decoded).toBe(true)
    expectCapped((decoded as { deadLetter: DeadLetter }).deadLetter)
  })
})
