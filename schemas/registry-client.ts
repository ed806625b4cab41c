/**
 * A thin client for the Confluent Schema Registry REST API (also served by Apicurio under /apis/ccompat/v7), over
 * global `fetch`. It covers what the serdes need: register a schema, fetch one by id (cached: ids are immutable),
 * read a subject's latest version, and read/set/check compatibility.
 *
 * Every failure is a FlextaskError with code FLEXTASK_REGISTRY_REQUEST_FAILED and `context.status` (the HTTP
 * status, absent for network errors) and `context.registryErrorCode` (e.g. 40403 schema not found). Network
 * errors, timeouts, 408, 429 and 5xx are retriable; other 4xx (e.g. 409 incompatible schema) are not.
 */
import type { schema } from 'avsc'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import type { RecordSchema } from './load-avsc.ts'

export const CompatibilityLevels = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const
export type CompatibilityLevel = (typeof CompatibilityLevels)[number]

/** The fetch the client calls; registry-connection.ts supplies one with basic auth and a CA for https. */
export type RegistryFetch = (url: string, init: RequestInit) => Promise<Response>

export interface RegistryClientOptions {
  /** Abort a request after this many milliseconds. Default 10000. */
  requestTimeoutMs?: number
  /** @default the global fetch (no credentials, the system CAs) */
  fetch?: RegistryFetch
}

export interface RegisteredSchema {
  id: number
  version: number
  schema: schema.AvroSchema
}

const contentType = 'application/vnd.schemaregistry.v1+json'

export class RegistryClient {
  readonly baseUrl: string
  private readonly requestTimeoutMs: number
  private readonly fetch: RegistryFetch
  private readonly schemasById = new Map<number, schema.AvroSchema>()

  /** @param baseUrl e.g. `http://127.0.0.1:8081/apis/ccompat/v7` (SCHEMA_REGISTRY_URL). */
  constructor(baseUrl: string, options: RegistryClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000
    this.fetch = options.fetch ?? ((url, init) => fetch(url, init))
  }

  /** Registers the schema under the subject (idempotent: identical content gets the same id) and returns its id. */
  async register(subject: string, avroSchema: RecordSchema): Promise<number> {
    const body = await this.request<{ id: number }>('POST', `/subjects/${encodeURIComponent(subject)}/versions`, {
      schema: schemaText(avroSchema),
    })
    return body.id
  }

  /** The schema with this id; a 404 (unknown id) throws with `context.status` 404. Cached. */
  async getSchemaById(id: number): Promise<schema.AvroSchema> {
    const cached = this.schemasById.get(id)
    if (cached !== undefined) return cached
    const body = await this.request<{ schema: string }>('GET', `/schemas/ids/${id}`)
    const parsed = parseSchema(body.schema, `/schemas/ids/${id}`)
    this.schemasById.set(id, parsed)
    return parsed
  }

  async getLatest(subject: string): Promise<RegisteredSchema> {
    const body = await this.request<{ id: number; version: number; schema: string }>(
      'GET',
      `/subjects/${encodeURIComponent(subject)}/versions/latest`,
    )
    return { id: body.id, version: body.version, schema: parseSchema(body.schema, subject) }
  }

  /**
   * Whether the schema may be registered under the subject at its configured compatibility level. A subject with
   * nothing registered yet accepts anything, so its 404 answers true.
   */
  async checkCompatibility(subject: string, avroSchema: RecordSchema): Promise<boolean> {
    try {
      const body = await this.request<{ is_compatible: boolean }>(
        'POST',
        `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest`,
        { schema: schemaText(avroSchema) },
      )
      return body.is_compatible
    } catch (error) {
      if (error instanceof FlextaskError && error.context.registryErrorCode === 40401) return true
      throw error
    }
  }

  async setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    await this.request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level })
  }

  /** The subject's own level, or null when it has none (the registry's global default then applies). */
  async getCompatibility(subject: string): Promise<string | null> {
    try {
      const body = await this.request<{ compatibilityLevel?: string; compatibility?: string }>(
        'GET',
        `/config/${encodeURIComponent(subject)}`,
      )
      return body.compatibilityLevel ?? body.compatibility ?? null
    } catch (error) {
      if (error instanceof FlextaskError && error.context.status === 404) return null
      throw error
    }
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${path}`
    let response: Response
    try {
      response = await this.fetch(url, {
        method,
        headers: { accept: contentType, ...(body === undefined ? {} : { 'content-type': contentType }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      })
    } catch (error) {
      throw new FlextaskError(ErrorCodes.registry, `schema registry ${method} ${url} failed: ${describe(error)}`, {
        retriable: true,
        cause: error,
        context: { url },
      })
    }
    const text = await response.text().catch(() => '')
    const json = parseJson(text)
    if (!response.ok) {
      const registryErrorCode = typeof json?.error_code === 'number' ? json.error_code : undefined
      const detail = typeof json?.message === 'string' ? json.message : text.slice(0, 200)
      throw new FlextaskError(
        ErrorCodes.registry,
        `schema registry ${method} ${url} answered ${response.status}: ${detail}`,
        {
          retriable: response.status >= 500 || response.status === 408 || response.status === 429,
          context: { url, status: response.status, registryErrorCode },
        },
      )
    }
    if (json === undefined) {
      throw new FlextaskError(ErrorCodes.registry, `schema registry ${method} ${url} answered non-JSON: ${text}`, {
        context: { url, status: response.status },
      })
    }
    return json as T
  }
}

/**
 * The schema as JSON text for the registry. Why the escape: Apicurio's Avro content check rewrites every
 * `: "{}"` to `:{}` before parsing (AvroContentAccepter.removeQuotedBrackets, Apicurio Registry 3.x), which turns
 * the string default "{}" of `payload` into an object and rejects the schema with 422 "Failed to discover artifact
 * type from content". Writing that `{` as `\u007b` is the same JSON string to every parser and escapes the rewrite.
 * `"{` never occurs outside a string in JSON text (a string is never followed by `{`), so this cannot touch
 * structure.
 */
export function schemaText(avroSchema: RecordSchema): string {
  return JSON.stringify(avroSchema).replaceAll('"{}"', '"\\u007b}"')
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function parseSchema(text: string, where: string): schema.AvroSchema {
  try {
    return JSON.parse(text) as schema.AvroSchema
  } catch (error) {
    throw new FlextaskError(ErrorCodes.registry, `schema registry returned a schema that is not JSON (${where})`, {
      cause: error,
    })
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
