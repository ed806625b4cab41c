/**
 * Key → partition, exactly as the Java producer's default partitioner places a keyed record:
 * `toPositive(Utils.murmur2(keyBytes)) % numPartitions` (apache/kafka clients `Utils.murmur2` and
 * `BuiltInPartitioner.partitionForKey`; kafkajs ≥ 2.0 `Partitioners.DefaultPartitioner` agrees).
 *
 * Why this matters: a record, its update and its tombstone must land on the partition that owns the key,
 * whichever client produced them. Mixing partitioners (librdkafka's `consistent_random` is CRC32-based) sends
 * a tombstone to the wrong partition and the key is never deleted (etf1/kafka-message-scheduler#44, #53).
 * Internal writes therefore name their partition explicitly using this function, and ingest checks that
 * external producers used it too.
 *
 * Rules
 * - Strings are hashed as their UTF-8 bytes (Java's `String.getBytes(UTF_8)`, the StringSerializer default).
 * - `toPositive` masks the sign bit (`& 0x7fffffff`); it is not `Math.abs`, so -1 maps to 2147483647.
 * - Keyless records are out of scope: the Java client spreads them with the sticky partitioner, not a hash.
 */

const murmurSeed = 0x9747b28c
const murmurM = 0x5bd1e995

/** Kafka's `Utils.murmur2`: 32-bit MurmurHash2, seed 0x9747b28c, returned as a signed 32-bit integer. */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.length
  let h = (murmurSeed ^ length) | 0
  const blockEnd = length & ~3
  for (let i = 0; i < blockEnd; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24) | 0
    k = Math.imul(k, murmurM)
    k ^= k >>> 24
    k = Math.imul(k, murmurM)
    h = Math.imul(h, murmurM) ^ k
  }
  // Java's switch falls through: 3 → 2 → 1, and only the tail bytes present are mixed in.
  const tail = length & 3
  if (tail === 3) h ^= bytes[blockEnd + 2]! << 16
  if (tail >= 2) h ^= bytes[blockEnd + 1]! << 8
  if (tail >= 1) h = Math.imul(h ^ bytes[blockEnd]!, murmurM)
  h ^= h >>> 13
  h = Math.imul(h, murmurM)
  h ^= h >>> 15
  return h | 0
}

/** The partition the Java client's default partitioner picks for this key among `numPartitions`. */
export function partitionForKey(key: Uint8Array | string, numPartitions: number): number {
  if (!Number.isSafeInteger(numPartitions) || numPartitions < 1) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`)
  }
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
  return (murmur2(bytes) & 0x7fffffff) % numPartitions
}
