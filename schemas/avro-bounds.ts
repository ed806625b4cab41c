/**
 * A bounds check of an Avro body against its writer schema, run before avsc decodes it.
 *
 * Why: avsc trusts the block counts of arrays and maps. A corrupted record whose count reads as 10^8 makes it
 * loop (and allocate) synchronously for tens of seconds, and a count near 2^60 never ends: one bad record froze
 * the whole scheduler or worker process (found by the fuzz suite, test/faults/fuzz-kafka.test.ts). Here every count
 * and length is checked against the bytes left before anything is read, so the walk costs at most one step per
 * byte, and a body that cannot fit its own counts is refused as undecodable. An int outside int32 and a long past
 * 2^53 (a flipped varint continuation bit, issue 15) are refused too: avsc would decode them to a value its own
 * type refuses to write.
 */
import type { Type } from 'avsc'

/** Items of a type that encodes to zero bytes (null, an empty record) are not bounded by the bytes left. */
const maxZeroSizeItems = 100_000

class BoundsError extends Error {}
/** A type the walk does not know: the rest is left to avsc, unchecked, as before. */
class StopWalk extends Error {}

interface Cursor {
  buf: Buffer
  pos: number
}

/** Throws an Error naming what does not fit when `body` cannot be a value of `writer`; returns otherwise. */
export function checkAvroBounds(writer: Type, body: Buffer): void {
  const cursor: Cursor = { buf: body, pos: 0 }
  try {
    walk(writer, cursor)
  } catch (error) {
    if (error instanceof BoundsError) throw new Error(`corrupt Avro body: ${error.message}`, { cause: error })
    if (!(error instanceof StopWalk)) throw error
  }
}

function readLong(c: Cursor): number {
  let result = 0
  let shift = 1
  for (let i = 0; i < 10; i++) {
    if (c.pos >= c.buf.length) throw new BoundsError(`varint past the end at byte ${c.pos}`)
    const byte = c.buf[c.pos++]!
    result += (byte & 0x7f) * shift
    if ((byte & 0x80) === 0) return result % 2 === 0 ? result / 2 : -(result + 1) / 2
    shift *= 128
  }
  throw new BoundsError(`varint longer than 10 bytes at byte ${c.pos}`)
}

function take(c: Cursor, n: number, what: string): void {
  if (n < 0 || n > c.buf.length - c.pos) {
    throw new BoundsError(`${what} of ${n} bytes at byte ${c.pos} with ${c.buf.length - c.pos} left`)
  }
  c.pos += n
}

function blocks(c: Cursor, zeroSize: boolean, what: string, item: () => void): void {
  let total = 0
  for (;;) {
    let count = readLong(c)
    if (count === 0) return
    if (count < 0) {
      count = -count
      readLong(c) // the block's size in bytes; the items are walked anyway
    }
    total += count
    const limit = zeroSize ? maxZeroSizeItems : c.buf.length - c.pos
    if (total > limit) throw new BoundsError(`${what} of ${total} items at byte ${c.pos} with ${limit} possible`)
    for (let i = 0; i < count; i++) item()
  }
}

function isZeroSize(type: Type): boolean {
  const t = type as Type & { getFields?: () => { getType(): Type }[] }
  if (type.typeName === 'null') return true
  if (type.typeName === 'record' || type.typeName === 'error')
    return t.getFields!().every((f) => isZeroSize(f.getType()))
  return false
}

type Check = (c: Cursor) => void

/**
 * The check of each writer type, built once from its schema (review C13: the walk interpreted the schema for every
 * value, asking avsc for fields and item types at each step). Same rules and messages as the walk it replaces.
 */
const checks = new WeakMap<Type, Check>()

function walk(type: Type, c: Cursor): void {
  checkFor(type)(c)
}

function checkFor(type: Type): Check {
  let check = checks.get(type)
  if (check === undefined) {
    // A recursive schema reaches its own type again while it is being compiled: look it up at run time.
    checks.set(type, (c) => checks.get(type)!(c))
    check = compile(type)
    checks.set(type, check)
  }
  return check
}

function compile(type: Type): Check {
  // The avsc type classes expose their parts through getters; typed loosely here to keep one switch.
  const t = type as Type & {
    getUnderlyingType?: () => Type
    getFields: () => { getType(): Type }[]
    getItemsType: () => Type
    getValuesType: () => Type
    getTypes: () => Type[]
    getSize: () => number
    getSymbols: () => string[]
  }
  if (typeof t.getUnderlyingType === 'function') return checkFor(t.getUnderlyingType())
  switch (type.typeName) {
    case 'null':
      return () => undefined
    case 'boolean':
      return (c) => take(c, 1, 'boolean')
    case 'int':
      // avsc reads an int as a long: a flipped continuation bit would decode to a number that is no int32 (and
      // fail only later, when the value is written again, e.g. at every fire of a definition that carries it).
      return (c) => {
        const at = c.pos
        const value = readLong(c)
        if (value < -0x80000000 || value > 0x7fffffff) throw new BoundsError(`int ${value} out of range at byte ${at}`)
      }
    case 'long':
    case 'abstract:long':
      return (c) => {
        const at = c.pos
        const value = readLong(c)
        if (!Number.isSafeInteger(value)) throw new BoundsError(`long past 2^53 at byte ${at}`)
      }
    case 'float':
      return (c) => take(c, 4, 'float')
    case 'double':
      return (c) => take(c, 8, 'double')
    case 'bytes':
    case 'string': {
      const what = type.typeName
      return (c) => take(c, readLong(c), what)
    }
    case 'fixed': {
      const size = t.getSize()
      return (c) => take(c, size, 'fixed')
    }
    case 'enum': {
      const symbols = t.getSymbols().length
      return (c) => {
        const index = readLong(c)
        if (index < 0 || index >= symbols) throw new BoundsError(`enum index ${index} out of range`)
      }
    }
    case 'record':
    case 'error': {
      const fields = t.getFields().map((field) => checkFor(field.getType()))
      return (c) => {
        for (const field of fields) field(c)
      }
    }
    case 'array': {
      const items = checkFor(t.getItemsType())
      const zeroSize = isZeroSize(t.getItemsType())
      return (c) => blocks(c, zeroSize, 'array', () => items(c))
    }
    case 'map': {
      const values = checkFor(t.getValuesType())
      return (c) =>
        blocks(c, false, 'map', () => {
          take(c, readLong(c), 'map key')
          values(c)
        })
    }
    case 'union:unwrapped':
    case 'union:wrapped': {
      const branches = t.getTypes().map((branch) => checkFor(branch))
      return (c) => {
        const index = readLong(c)
        const branch = branches[index]
        if (branch === undefined) throw new BoundsError(`union branch ${index} out of range`)
        branch(c)
      }
    }
    default: {
      const name = type.typeName
      return () => {
        throw new StopWalk(name)
      }
    }
  }
}
