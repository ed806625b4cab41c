/**
 * One HTTP call for the built-ins (http, kubernetes, elasticsearch): undici 8's own `request` on an Agent whose
 * connector is the SSRF guard (ssrf-guard.ts), bounded by the attempt's signal and a per-call timeout, with the
 * response body read up to a byte cap. Node's global fetch bundles undici 7 and rejects an undici 8 Agent, so
 * everything here comes from the `undici` package.
 *
 * Errors are coded: FLEXTASK_HTTP_ADDRESS_REFUSED (not retriable), FLEXTASK_HTTP_TIMEOUT and
 * FLEXTASK_HTTP_REQUEST_FAILED (connection refused, reset, DNS: retriable). An abort of the attempt's own signal
 * is rethrown as is, so the runtime reports it as the timeout or shutdown it is.
 */
import { Agent, request } from 'undici'
import { coerceError, FlextaskError } from '../../errors.ts'
import { guardedConnector, type Resolver, type SsrfPolicy, systemResolver } from './ssrf-guard.ts'

export const HttpErrorCodes = {
  timeout: 'FLEXTASK_HTTP_TIMEOUT',
  failed: 'FLEXTASK_HTTP_REQUEST_FAILED',
  status: 'FLEXTASK_HTTP_UNEXPECTED_STATUS',
} as const

export interface HttpCall {
  method: string
  url: string
  headers?: Record<string, string>
  body?: string
  /** Per-call bound besides the attempt's signal. */
  timeoutMs: number
  maxResponseBytes: number
  /** PEM CA certificate(s) trusted for https, instead of the system store. */
  ca?: string
}

export interface HttpResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** Bytes received before the cap (the body may be longer). */
  bodyBytes: number
  truncated: boolean
  durationMs: number
}

/** Agents per CA, all behind the same SSRF policy; close() releases their sockets. */
export class GuardedHttp {
  readonly #policy: SsrfPolicy
  readonly #resolve: Resolver
  readonly #agents = new Map<string, Agent>()

  constructor(policy: SsrfPolicy, resolve: Resolver = systemResolver) {
    this.#policy = policy
    this.#resolve = resolve
  }

  #agent(ca: string | undefined): Agent {
    const key = ca ?? ''
    let agent = this.#agents.get(key)
    if (agent === undefined) {
      agent = new Agent({
        connect: guardedConnector(
          this.#policy,
          { timeout: 10_000, ...(ca === undefined ? {} : { ca }) },
          this.#resolve,
        ),
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      })
      this.#agents.set(key, agent)
    }
    return agent
  }

  async call(call: HttpCall, signal: AbortSignal): Promise<HttpResponse> {
    const started = performance.now()
    const timeout = AbortSignal.timeout(call.timeoutMs)
    const combined = AbortSignal.any([signal, timeout])
    try {
      const response = await request(call.url, {
        method: call.method as 'GET',
        headers: call.headers ?? {},
        body: call.body ?? null,
        signal: combined,
        dispatcher: this.#agent(call.ca),
      })
      const chunks: Buffer[] = []
      let bytes = 0
      let truncated = false
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        const room = call.maxResponseBytes - bytes
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, Math.max(0, room)))
          bytes += Math.max(0, room)
          truncated = true
          break
        }
        chunks.push(chunk)
        bytes += chunk.length
      }
      if (truncated) response.body.destroy()
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value
      }
      return {
        status: response.statusCode,
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
        bodyBytes: bytes,
        truncated,
        durationMs: Math.round(performance.now() - started),
      }
    } catch (error) {
      if (signal.aborted) throw signal.reason
      const coded = findCoded(error)
      if (coded !== undefined) throw coded
      if (timeout.aborted) {
        throw new FlextaskError(
          HttpErrorCodes.timeout,
          `${call.method} ${displayUrl(call.url)}: no response within ${call.timeoutMs} ms`,
          {
            retriable: true,
            cause: error,
          },
        )
      }
      const e = coerceError(error)
      const code = (error as { code?: unknown }).code
      throw new FlextaskError(
        HttpErrorCodes.failed,
        `${call.method} ${displayUrl(call.url)} failed: ${typeof code === 'string' ? `${code} ` : ''}${e.message}`,
        { retriable: true, cause: error },
      )
    }
  }

  async close(): Promise<void> {
    for (const agent of this.#agents.values()) await agent.close().catch(() => undefined)
    this.#agents.clear()
  }
}

function findCoded(error: unknown): FlextaskError | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof FlextaskError) return e
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/** Header names whose values are secrets: never reported, and scrubbed from output and logs. */
export const secretHeader = /authorization|cookie|token|secret|password|passwd|api[-_]?key|signature|credential/i

/** The secrets of a request: sensitive header values, URL userinfo and sensitive query parameter values. */
export function secretsOf(url: string, headers: Record<string, string> = {}): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    if (secretHeader.test(name)) {
      out.push(value)
      const token = value.replace(/^(bearer|basic|token)\s+/i, '')
      if (token !== value) out.push(token)
    }
  }
  try {
    const u = new URL(url)
    if (u.password) out.push(u.password, decodeURIComponent(u.password))
    if (u.username && u.password) out.push(u.username)
    for (const [name, value] of u.searchParams)
      if (secretHeader.test(name) || /^(key|sig|auth)$/i.test(name)) out.push(value)
  } catch {
    // an invalid URL fails the request itself
  }
  return out.filter((s) => s.length >= 3)
}

/** The URL as it may be shown: no userinfo, sensitive query values replaced. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    for (const [name] of u.searchParams) {
      if (secretHeader.test(name) || /^(key|sig|auth)$/i.test(name)) u.searchParams.set(name, 'REDACTED')
    }
    return u.toString()
  } catch {
    return '(invalid URL)'
  }
}

/** Credentials of an API built-in (kubernetes, elasticsearch): a bearer token or basic auth, and a CA. */
export interface ApiCredentials {
  token?: string | undefined
  basic?: { username: string; password: string } | undefined
}

/** The Authorization header for `credentials` (none without them) and the secrets to redact. */
export function authHeader(credentials: ApiCredentials): { headers: Record<string, string>; secrets: string[] } {
  if (credentials.token !== undefined) {
    return { headers: { authorization: `Bearer ${credentials.token}` }, secrets: [credentials.token] }
  }
  if (credentials.basic !== undefined) {
    const encoded = Buffer.from(`${credentials.basic.username}:${credentials.basic.password}`).toString('base64')
    return { headers: { authorization: `Basic ${encoded}` }, secrets: [encoded, credentials.basic.password] }
  }
  return { headers: {}, secrets: [] }
}
