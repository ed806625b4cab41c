/**
 * Avro serde for one subject in the Confluent wire format: byte 0 is the magic 0x00, bytes 1–4 the writer's
 * schema id (int32 big-endian), then the Avro binary body.
 *
 * The serde owns one reader schema (the newest released `.avsc`). It writes with that schema and reads any
 * writer schema registered in the registry by resolving writer → reader (Avro schema resolution), so values
 * written by older producers decode with the current defaults. `init()` puts the subject at BACKWARD_TRANSITIVE
 * and registers the reader schema, so the registry refuses any later schema the current readers cannot read.
 *
 * Serialization is synchronous (Kafka client serializers are); registry I/O happens in `init()` and, once per
 * writer id, in `deserialize` (an unknown id is remembered for a while by the RegistryClient, which every serde of
 * a process shares: scheduler, worker and sink decode through the same instances). Errors: FLEXTASK_SERDE_ENCODE_FAILED (value does not match; names the field path),
 * FLEXTASK_SERDE_DECODE_FAILED (bad framing, bad body, or a writer schema the reader cannot resolve),
 * FLEXTASK_SERDE_UNKNOWN_SCHEMA (the id is not in the registry), FLEXTASK_REGISTRY_REQUEST_FAILED (registry
 * unreachable etc.; retriable when transient). None of the serde codes is retriable.
 */
import avro from 'avsc'
import type { Resolver, Type } from 'avsc'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import { checkAvroBounds } from './avro-bounds.ts'
import type { RecordSchema } from './load-avsc.ts'
import type { RegistryClient } from './registry-client.ts'

/** What the serde needs from a registry: the RegistryClient, or an in-memory stand-in in unit tests. */
export type SchemaRegistry = Pick<RegistryClient, 'setCompatibility' | 'register' | 'getSchemaById'>

/** One reason a value does not match the schema; `path` is dotted field names (and map keys). */
export interface InvalidField {
  path: string
  message: string
}

const magicByte = 0
const headerBytes = 5
/** One scratch buffer for every serde of the process: serialize is synchronous, so bodies never interleave. */
const scratch = { buf: Buffer.allocUnsafe(64 * 1024) }

export class AvroSerde<T> {
  readonly subject: string
  readonly readerSchema: RecordSchema
  private readonly readerType: Type
  private readonly registry: SchemaRegistry
  private registeredId: number | undefined
  private initializing: Promise<number> | undefined
  /** writer schema id → resolver into the reader schema; ids are immutable, so entries never go stale. */
  private readonly resolvers = new Map<number, Resolver>()
  /** Writer types by schema id, set with their resolver: each body is bounds-checked against its writer first. */
  private readonly writerTypes = new Map<number, Type>()
  private readonly pendingResolvers = new Map<number, Promise<Resolver>>()

  /** @param subject TopicNameStrategy: `<topic>-value`. */
  constructor(subject: string, readerSchema: RecordSchema, registry: SchemaRegistry) {
    this.subject = subject
    this.readerSchema = readerSchema
    this.readerType = avro.Type.forSchema(readerSchema)
    this.registry = registry
  }

  /** The id the reader schema is registered under; available after `init()`. */
  get schemaId(): number {
    if (this.registeredId === undefined) {
      throw new FlextaskError(ErrorCodes.serdeEncode, `serde for ${this.subject} is not initialized: call init()`)
    }
    return this.registeredId
  }

  /**
   * Sets the subject to BACKWARD_TRANSITIVE and registers the reader schema. Idempotent: registering the same
   * schema again returns the same id. A registry that refuses the schema (409) rejects with a registry error.
   */
  init(): Promise<number> {
    this.initializing ??= this.register().catch((error: unknown) => {
      this.initializing = undefined
      throw error
    })
    return this.initializing
  }

  /** The fields that stop `value` from being written, each with its path (`schedule.kind`); empty when valid. */
  validate(value: unknown): InvalidField[] {
    const invalid: InvalidField[] = []
    this.readerType.isValid(value, {
      errorHook: (path, fieldValue, type) => {
        const at = path.length === 0 ? '(value)' : path.join('.')
        invalid.push({ path: at, message: `${at}: ${describeValue(fieldValue)} is not ${expected(type)}` })
      },
    })
    return invalid
  }

  /**
   * Encodes in the Confluent wire format with the registered id. Throws serdeEncode naming the invalid field.
   * One check and one write (review C13): avsc's compiled check without an error hook stops at the first problem
   * and collects nothing; only a value that fails it is walked again to name its fields. The body is written after
   * the header into a reused scratch buffer, and copied out once.
   */
  serialize(value: T): Buffer {
    const id = this.schemaId
    if (!this.readerType.isValid(value)) {
      const invalid = this.validate(value)
      const messages = invalid.map((field) => field.message).join('; ')
      throw new FlextaskError(ErrorCodes.serdeEncode, `invalid ${this.readerType.name}: ${messages}`, {
        context: { subject: this.subject, field: invalid[0]?.path },
      })
    }
    let end: number
    try {
      end = this.readerType.encode(value, scratch.buf, headerBytes)
      if (end < 0) {
        scratch.buf = Buffer.allocUnsafe(Math.max(2 * scratch.buf.length, scratch.buf.length - end))
        end = this.readerType.encode(value, scratch.buf, headerBytes)
      }
    } catch (error) {
      throw new FlextaskError(
        ErrorCodes.serdeEncode,
        `cannot encode ${this.readerType.name}: ${describeError(error)}`,
        {
          cause: error,
          context: { subject: this.subject },
        },
      )
    }
    const bytes = Buffer.allocUnsafe(end)
    scratch.buf.copy(bytes, headerBytes, headerBytes, end)
    bytes.writeUInt8(magicByte, 0)
    bytes.writeInt32BE(id, 1)
    return bytes
  }

  /** Decodes a Confluent-framed value written with any registered schema the reader can resolve. */
  async deserialize(bytes: Buffer): Promise<T> {
    if (!Buffer.isBuffer(bytes) || bytes.length < headerBytes) {
      throw this.decodeError(
        `expected at least ${headerBytes} bytes, got ${Buffer.isBuffer(bytes) ? bytes.length : typeof bytes}`,
      )
    }
    if (bytes[0] !== magicByte) throw this.decodeError(`unknown magic byte ${bytes[0]}`)
    const id = bytes.readInt32BE(1)
    const resolver = this.resolvers.get(id) ?? (await this.resolverFor(id))
    const body = bytes.subarray(headerBytes)
    try {
      checkAvroBounds(this.writerTypes.get(id)!, body)
      return this.readerType.fromBuffer(body, resolver) as T
    } catch (error) {
      throw this.decodeError(`cannot decode a body written with schema id ${id}: ${describeError(error)}`, error, id)
    }
  }

  private async register(): Promise<number> {
    await this.registry.setCompatibility(this.subject, 'BACKWARD_TRANSITIVE')
    const id = await this.registry.register(this.subject, this.readerSchema)
    this.registeredId = id
    return id
  }

  private resolverFor(id: number): Promise<Resolver> {
    let pending = this.pendingResolvers.get(id)
    if (pending === undefined) {
      pending = this.createResolver(id).finally(() => this.pendingResolvers.delete(id))
      this.pendingResolvers.set(id, pending)
    }
    return pending
  }

  private async createResolver(id: number): Promise<Resolver> {
    const writerType = id === this.registeredId ? this.readerType : await this.fetchWriterType(id)
    let resolver: Resolver
    try {
      resolver = this.readerType.createResolver(writerType)
    } catch (error) {
      throw this.decodeError(
        `writer schema id ${id} is not readable as ${this.readerType.name}: ${describeError(error)}`,
        error,
        id,
      )
    }
    this.writerTypes.set(id, writerType)
    this.resolvers.set(id, resolver)
    return resolver
  }

  private async fetchWriterType(id: number): Promise<Type> {
    let writerSchema
    try {
      writerSchema = await this.registry.getSchemaById(id)
    } catch (error) {
      // Only the registry's definitive "not found" (404, not retriable: registry-client.ts) makes input bad.
      if (error instanceof FlextaskError && error.context.status === 404 && !error.retriable) {
        throw new FlextaskError(ErrorCodes.serdeUnknownSchema, `schema id ${id} is not in the registry`, {
          cause: error,
          context: { subject: this.subject, schemaId: id },
        })
      }
      throw error
    }
    try {
      return avro.Type.forSchema(writerSchema)
    } catch (error) {
      throw this.decodeError(`writer schema id ${id} is not a valid Avro schema: ${describeError(error)}`, error, id)
    }
  }

  private decodeError(message: string, cause?: unknown, schemaId?: number): FlextaskError {
    return new FlextaskError(ErrorCodes.serdeDecode, `${this.subject}: ${message}`, {
      cause,
      context: { subject: this.subject, ...(schemaId === undefined ? {} : { schemaId }) },
    })
  }
}

function expected(type: Type): string {
  if (avro.Type.isType(type, 'enum')) return `one of ${(type as avro.types.EnumType).symbols.join(', ')}`
  return type.name ?? (type.typeName.includes(':') ? JSON.stringify(type.schema()) : type.typeName)
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'bigint') return `${value}n`
  let json: string
  try {
    json = JSON.stringify(value)
  } catch {
    json = Object.prototype.toString.call(value)
  }
  return json.length > 60 ? `${json.slice(0, 57)}...` : json
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
