/**
 * MemoryRegistry: an in-memory stand-in for the Schema Registry, for unit and topology tests only (the real
 * registry is exercised in test/integration). Ids by content like Confluent and Apicurio.
 */
import type { schema } from 'avsc'
import { ErrorCodes, FlextaskError } from '../../errors.ts'
import type { SchemaRegistry } from '../../schemas/avro-serde.ts'
import type { RecordSchema } from '../../schemas/load-avsc.ts'
import type { CompatibilityLevel } from '../../schemas/registry-client.ts'

/** Ids by content like Confluent and Apicurio; `failNext` makes the next getSchemaById fail with that status. */
export class MemoryRegistry implements SchemaRegistry {
  readonly levels = new Map<string, CompatibilityLevel>()
  readonly schemas = new Map<number, schema.AvroSchema>()
  lookups = 0
  registrations = 0
  failNext: number | undefined

  setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    this.levels.set(subject, level)
    return Promise.resolve()
  }

  register(_subject: string, avroSchema: RecordSchema): Promise<number> {
    this.registrations++
    const text = JSON.stringify(avroSchema)
    for (const [id, known] of this.schemas) if (JSON.stringify(known) === text) return Promise.resolve(id)
    const id = this.schemas.size + 100
    this.schemas.set(id, structuredClone(avroSchema))
    return Promise.resolve(id)
  }

  getSchemaById(id: number): Promise<schema.AvroSchema> {
    this.lookups++
    const status = this.failNext ?? (this.schemas.has(id) ? undefined : 404)
    this.failNext = undefined
    if (status !== undefined) {
      return Promise.reject(
        new FlextaskError(ErrorCodes.registry, `registry answered ${status}`, {
          retriable: status >= 500,
          context: { status, ...(status === 404 ? { registryErrorCode: 40403 } : {}) },
        }),
      )
    }
    return Promise.resolve(this.schemas.get(id)!)
  }
}
