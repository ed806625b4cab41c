/**
 * Plain serdes for keys and simple values. Avro values with a Schema Registry live in schemas/.
 */
import type { Serde, StoreSerde } from './api.ts'

export const stringSerde: Serde<string> & StoreSerde<string> = {
  serialize: (value) => Buffer.from(value, 'utf8'),
  deserialize: (data) => data.toString('utf8'),
}

export const bufferSerde: Serde<Buffer> & StoreSerde<Buffer> = {
  serialize: (value) => value,
  deserialize: (data) => data,
}

/** JSON values; suitable for state stores of plain objects (no bigint, no Buffer). */
export function jsonSerde<T>(): Serde<T> & StoreSerde<T> {
  return {
    serialize: (value) => Buffer.from(JSON.stringify(value)),
    deserialize: (data) => JSON.parse(data.toString('utf8')) as T,
  }
}
