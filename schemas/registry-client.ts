/**
 * A thin client for the Confluent Schema Registry REST API (also served by Apicurio under /apis/ccompat/v7), over
 * global `fetch`. It covers what the serdes need: register a schema, fetch one by id (cached: ids are immutable),
 * read a subject's latest version, and read/set/check compatibility.
 *
 * Every failure is a FlextaskError with code FLEXTASK_REGISTRY_REQUEST_FAILED and `context.status` (the HTTP
 * status, absent for network errors) and `context.registryErrorCode` (e.g. 40403 schema not found). Network
 * errors, timeouts, 408, 429 and 5xx are retriable; other 4xx (e.g. 409 incompatible schema) are not.
 *
 * Schema ids (issue 15): a found schema is cached for good (ids are immutable); a "not found" answer is cached for
 * `unknownIdTtlMs` (at most `maxUnknownIds` ids, the oldest forgotten first), so a flood of records carrying an
 * unknown id costs one request per id and TTL, not one per record. Only the registry's own answer counts as not
 * found: 404 with error_code 40403 (Confluent, Apicurio's ccompat API, Karapace and Redpanda all answer so). Any
 * other 404 (a proxy, a wrong base path) says nothing about the id: it is retriable, is not cached, and so never
 * turns good input into a dead letter; neither does a network error, a timeout, 408, 429 or a 5xx.
 *
 * Startup (`register`, `setCompatibility`, what a serde's init does) waits out a registry that is down or
 * starting: retriable failures are retried with backoff (200 ms doubling to 5 s, ±20 %) until
 * `startupGiveUpAfterMs`, each retry reported to `onRetry`. Two instances starting at the same moment race on
 * the same subject: Apicurio answers the loser's PUT /config 409 "A rule named 'COMPATIBILITY' already exists",
 * which counts as success when the subject now has the level asked for; a 409 on register is retried a few
 * times, since registering identical content again returns the same id (an incompatible schema stays 409).
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
  /** How long startup calls wait out a registry that is down before giving up, in ms. Default 120000. */
  startupGiveUpAfterMs?: number
  /** Told about each startup retry (the process host logs it as a warning). Default: nothing. */
  onRetry?: (event: { what: string; attempt: number; delayMs: number; error: FlextaskError }) => void
  /** How long a "schema id not found" answer is remembered, in ms. Default 30000. */
  unknownIdTtlMs?: number
  /** Most unknown ids remembered at once (the oldest is forgotten first). Default 10000. */
  maxUnknownIds?: number
  /** The clock of the unknown-id cache. Default `Date.now`. */
  nowMs?: () => number
}

/** The registry's error_code for "schema not found" (GET /schemas/ids/{id}). */
export const schemaNotFoundErrorCode = 40403

const registerConflictRetries = 3

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
  private readonly startupGiveUpAfterMs: number
  private readonly onRetry: NonNullable<RegistryClientOptions['onRetry']>
  private readonly schemasById = new Map<number, schema.AvroSchema>()
  /** id → the registry's "not found" answer and when it stops counting; insertion order is age order. */
  private readonly unknownIds = new Map<number, { error: FlextaskError; untilMs: number }>()
  private readonly unknownIdTtlMs: number
  private readonly maxUnknownIds: number
  private readonly nowMs: () => number
  /** Requests for GET /schemas/ids/{id} sent so far (tests and metrics). */
  schemaLookups = 0

  /** @param baseUrl e.g. `http://127.0.0.1:8081/apis/ccompat/v7` (SCHEMA_REGISTRY_URL). */
  constructor(baseUrl: string, options: RegistryClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000
    this.fetch = options.fetch ?? ((url, init) => fetch(url, init))
    this.startupGiveUpAfterMs = options.startupGiveUpAfterMs ?? 120_000
    this.onRetry = options.onRetry ?? (() => undefined)
    this.unknownIdTtlMs = options.unknownIdTtlMs ?? 30_000
    this.maxUnknownIds = options.maxUnknownIds ?? 10_000
    this.nowMs = options.nowMs ?? Date.now
  }

  /** Registers the schema under the subject (idempotent: identical content gets the same id) and returns its id. */
  async register(subject: string, avroSchema: RecordSchema): Promise<number> {
    let conflicts = 0
    return this.startupRetry(`registering the schema of ${subject}`, async () => {
      try {
        const path = `/subjects/${encodeURIComponent(subject)}/versions`
        const body = await this.request<{ id: number }>('POST', path, { schema: schemaText(avroSchema) })
        return body.id
      } catch (error) {
        // Another instance registering the same subject at this moment: try again (identical content → same id).
        if (isStatus(error, 409) && ++conflicts <= registerConflictRetries) throw asRetriable(error)
        throw error
      }
    })
  }

  /**
   * Runs a startup call, retrying retriable failures with backoff until startupGiveUpAfterMs; then rethrows
   * the last failure with the time waited in its message.
   */
  private async startupRetry<T>(what: string, call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.startupGiveUpAfterMs
    for (let attempt = 1; ; attempt++) {
      try {
        return await call()
      } catch (error) {
        if (!(error instanceof FlextaskError) || !error.retriable) throw error
        const delayMs = Math.min(5000, 200 * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4)
        if (Date.now() + delayMs > deadline) {
          throw new FlextaskError(
            ErrorCodes.registry,
            `${what}: gave up after ${this.startupGiveUpAfterMs} ms (${attempt} attempts): ${error.message}`,
            { cause: error, context: error.context },
          )
        }
        this.onRetry({ what, attempt, delayMs, error })
        await new Promise((resolve) => setTimeout(resolve, delayMs))
      }
    }
  }

  /**
   * The schema with this id. An id the registry does not know throws with `context.status` 404 and
   * `context.registryErrorCode` 40403, also from the unknown-id cache (see the header); any other failure is
   * thrown as the request's, retriable when transient. Found schemas are cached for good.
   */
  async getSchemaById(id: number): Promise<schema.AvroSchema> {
    const cached = this.schemasById.get(id)
    if (cached !== undefined) return cached
    const unknown = this.unknownIds.get(id)
    if (unknown !== undefined && unknown.untilMs > this.nowMs()) throw unknown.error
    this.unknownIds.delete(id)
    let body: { schema: string }
    try {
      this.schemaLookups++
      body = await this.request<{ schema: string }>('GET', `/schemas/ids/${id}`)
    } catch (error) {
      throw this.schemaLookupFailed(id, error)
    }
    const parsed = parseSchema(body.schema, `/schemas/ids/${id}`)
    this.schemasById.set(id, parsed)
    return parsed
  }

  /** Remembers a definitive "not found"; makes any other 404 retriable (it says nothing about the id). */
  private schemaLookupFailed(id: number, error: unknown): unknown {
    if (!isStatus(error, 404)) return error
    if (error.context.registryErrorCode !== schemaNotFoundErrorCode) return asRetriable(error)
    if (this.unknownIds.size >= this.maxUnknownIds) {
      const oldest = this.unknownIds.keys().next().value
      if (oldest !== undefined) this.unknownIds.delete(oldest)
    }
    this.unknownIds.set(id, { error, untilMs: this.nowMs() + this.unknownIdTtlMs })
    return error
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
    await this.startupRetry(`setting ${subject} to ${level}`, async () => {
      try {
        await this.request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level })
      } catch (error) {
        // Apicurio: another instance created the subject's rule a moment ago. Fine if it is the level we want.
        if (!isStatus(error, 409)) throw error
        const current = await this.getCompatibility(subject)
        if (current !== level) throw asRetriable(error)
      }
    })
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

function isStatus(error: unknown, status: number): error is FlextaskError {
  return error instanceof FlextaskError && error.context.status === status
}

function asRetriable(error: FlextaskError): FlextaskError {
  return new FlextaskError(error.code, error.message, { retriable: true, cause: error, context: error.context })
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
