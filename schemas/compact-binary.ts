/**
 * Byte-level primitives of the scheduler's compact store values (processors/task-state-serde.ts): a writer into
 * one reused scratch buffer and a bounds-checked reader. Not a wire format of any topic: these bytes only live in
 * the scheduler's own state stores and their changelogs, always behind a leading format byte.
 *
 * Encodings:
 * - `uint`: unsigned LEB128 varint of a safe integer (arithmetic, not 32-bit bit operations).
 * - `number`: any JS number or `null`, JSON's meaning kept: a varint `u` whose low two bits say which:
 *   0 → integer `zigzag(n) = u / 4` (|n| ≤ 2^50, e.g. epoch milliseconds in 6–7 bytes), 1 → a float64 follows
 *   (fractions, larger magnitudes), 2 → null. Anything else (undefined, a string) is refused on write.
 * - `string`: a varint of (UTF-8 byte length + 1), 0 for null, then the bytes. The length is reserved before
 *   the string is written (3 bytes per UTF-16 unit at most) and padded to the reserved width, so a string is
 *   written in one pass, never measured first; the reader accepts such padded (non-minimal) varints.
 * Why not avsc here: its `toBuffer` trusts its input (an int or long field given a fraction or a number past
 * 2^53 is written wrong, silently), and a check before every write is the double walk review C13 removes.
 */
import { ErrorCodes, FlextaskError } from '../errors.ts'

const intLimit = 2 ** 50

export class ByteWriter {
  #buf: Buffer
  #pos = 0

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialBytes)
  }

  /** Starts a new value, reusing the scratch buffer. */
  reset(): this {
    this.#pos = 0
    return this
  }

  /** A copy of what was written since `reset()`: the scratch buffer is reused by the next value. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.#pos)
    this.#buf.copy(out, 0, 0, this.#pos)
    return out
  }

  #ensure(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + bytes))
    this.#buf.copy(grown, 0, 0, this.#pos)
    this.#buf = grown
  }

  byte(value: number): void {
    this.#ensure(1)
    this.#buf[this.#pos++] = value
  }

  uint(value: number): void {
    this.#ensure(10)
    let u = value
    while (u >= 0x80) {
      this.#buf[this.#pos++] = (u % 0x80) | 0x80
      u = Math.floor(u / 0x80)
    }
    this.#buf[this.#pos++] = u
  }

  /** A number or null (never undefined: what cannot be read back is refused here, not at the next load). */
  number(value: number | null): void {
    if (value === null) return this.byte(2)
    if (typeof value !== 'number') throw encodeError(`expected a number or null, got ${typeof value}`)
    if (Number.isInteger(value) && value <= intLimit && value >= -intLimit && !Object.is(value, -0)) {
      return this.uint((value >= 0 ? value * 2 : -value * 2 - 1) * 4)
    }
    this.#ensure(9)
    this.#buf[this.#pos++] = 1
    this.#buf.writeDoubleLE(value, this.#pos)
    this.#pos += 8
  }

  /** A number that may not be null. */
  num(value: number): void {
    if (typeof value !== 'number') throw encodeError(`expected a number, got ${value === null ? 'null' : typeof value}`)
    this.number(value)
  }

  string(value: string | null): void {
    if (value === null) return this.byte(0)
    if (typeof value !== 'string') throw encodeError(`expected a string or null, got ${typeof value}`)
    const maxBytes = value.length * 3 + 1
    const width = varintWidth(maxBytes)
    this.#ensure(width + maxBytes)
    const start = this.#pos + width
    const written = this.#buf.write(value, start, 'utf8')
    let u = written + 1
    for (let i = 0; i < width - 1; i++) {
      this.#buf[this.#pos++] = (u % 0x80) | 0x80
      u = Math.floor(u / 0x80)
    }
    this.#buf[this.#pos++] = u
    this.#pos = start + written
  }

  /** Raw bytes, as they are (e.g. a segment encoded before). */
  bytes(value: Buffer): void {
    this.#ensure(value.length)
    value.copy(this.#buf, this.#pos)
    this.#pos += value.length
  }
}

function varintWidth(value: number): number {
  let width = 1
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) width++
  return width
}

export class ByteReader {
  readonly buf: Buffer
  pos: number
  readonly #what: string

  /** `what` names the value in errors, e.g. "tasks store value". */
  constructor(buf: Buffer, pos: number, what: string) {
    this.buf = buf
    this.pos = pos
    this.#what = what
  }

  fail(message: string): never {
    throw new FlextaskError(ErrorCodes.serdeDecode, `corrupt ${this.#what}: ${message} at byte ${this.pos}`)
  }

  byte(): number {
    if (this.pos >= this.buf.length) this.fail('past the end')
    return this.buf[this.pos++]!
  }

  uint(): number {
    let result = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const b = this.byte()
      result += (b & 0x7f) * scale
      if ((b & 0x80) === 0) return result
      scale *= 0x80
    }
    return this.fail('varint longer than 8 bytes')
  }

  number(): number | null {
    const u = this.uint()
    const tag = u % 4
    if (tag === 0) {
      const z = u / 4
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2
    }
    if (tag === 2 && u === 2) return null
    if (u !== 1 || this.pos + 8 > this.buf.length) this.fail(`bad number tag ${u}`)
    const value = this.buf.readDoubleLE(this.pos)
    this.pos += 8
    return value
  }

  /** A number that may not be null. */
  num(): number {
    const value = this.number()
    if (typeof value !== 'number') this.fail(`expected a number, got ${value}`)
    return value
  }

  string(): string | null {
    const n = this.uint()
    if (n === 0) return null
    const end = this.pos + n - 1
    if (end > this.buf.length) this.fail(`string of ${n - 1} bytes with ${this.buf.length - this.pos} left`)
    const value = this.buf.toString('utf8', this.pos, end)
    this.pos = end
    return value
  }

  /** A string that may not be null. */
  str(): string {
    const value = this.string()
    if (value === null) this.fail('expected a string, got null')
    return value
  }

  /** An index into a closed set (an enum's symbols). */
  symbol<T>(symbols: readonly T[]): T {
    const at = this.byte()
    const symbol = symbols[at]
    if (symbol === undefined) this.fail(`symbol index ${at} out of range`)
    return symbol
  }
}

function encodeError(message: string): FlextaskError {
  return new FlextaskError(ErrorCodes.serdeEncode, message)
}

/** The index of `value` in a closed set, for `ByteWriter.byte`; throws an encode error for a symbol it lacks. */
export function symbolIndex<T>(symbols: readonly T[], value: T, what: string): number {
  const at = symbols.indexOf(value)
  if (at < 0) throw encodeError(`${what}: ${String(value)} is not one of ${symbols.join(', ')}`)
  return at
}
