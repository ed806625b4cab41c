import { Partitioners, type PartitionMetadata } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { murmur2, partitionForKey } from '../../../topology/partitioner.ts'

/** xorshift32: reproducible "random" keys, so a failure names the same key every run. */
function generator(seed: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>>= 0)
  }
}

function metadata(numPartitions: number): PartitionMetadata[] {
  return Array.from({ length: numPartitions }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
  }))
}

describe('murmur2', () => {
  // apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ])('hashes %j to the value in Kafka UtilsTest (%i)', (key, expected) => {
    expect(murmur2(Buffer.from(key, 'utf8'))).toBe(expected)
  })
})

describe('partitionForKey', () => {
  it('agrees with the kafkajs DefaultPartitioner (Java-compatible) for random keys and 1 to 50 partitions', () => {
    const next = generator(0x5eed)
    const kafkajs = Partitioners.DefaultPartitioner()
    let compared = 0
    for (let i = 0; i < 500; i++) {
      const length = next() % 48
      const key = Buffer.from(Array.from({ length }, () => next() & 0xff))
      const asString = `schedule-${next().toString(36)}-ü`
      for (const numPartitions of [1 + (i % 50), 1 + (next() % 50)]) {
        const partitionMetadata = metadata(numPartitions)
        for (const k of [key, asString]) {
          const expected = kafkajs({ topic: 't', partitionMetadata, message: { key: k, value: null } })
          expect(partitionForKey(k, numPartitions), `key ${k.toString('hex')} over ${numPartitions}`).toBe(expected)
          compared++
        }
      }
    }
    expect(compared).toBe(2000)
  })

  it('hashes a string as its UTF-8 bytes', () => {
    const key = 'tâche-日本-🙂'
    for (const numPartitions of [3, 7, 12, 48]) {
      expect(partitionForKey(key, numPartitions)).toBe(partitionForKey(Buffer.from(key, 'utf8'), numPartitions))
    }
  })

  it('masks the sign bit of a negative hash instead of taking its absolute value', () => {
    // murmur2("21") = -973932308; & 0x7fffffff = 1173551340, whereas Math.abs would give 973932308.
    expect(partitionForKey('21', 2_147_483_647)).toBe(1173551340)
    expect(partitionForKey('21', 7)).toBe(1173551340 % 7)
  })

  it('rejects a partition count below 1', () => {
    expect(() => partitionForKey('k', 0)).toThrow(/numPartitions must be a positive integer/)
  })
})
