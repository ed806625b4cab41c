/**
 * An HTTP client of the flextask REST API (what the `flextask` client commands, tests and benchmarks use). Every
 * non-2xx answer becomes an ApiClientError carrying the problem details (RFC 9457) the API sent; a connection
 * failure becomes one with status 0.
 */
export interface Problem {
  type?: string
  title?: string
  status: number
  detail: string
  code: string
  field?: string
}

export class ApiClientError extends Error {
  readonly status: number
  readonly problem: Problem

  constructor(problem: Problem) {
    super(
      problem.field === undefined || problem.detail.startsWith(problem.field)
        ? problem.detail
        : `${problem.field}: ${problem.detail}`,
    )
    this.name = 'ApiClientError'
    this.status = problem.status
    this.problem = problem
  }
}

export interface ApiClientOptions {
  /** e.g. http://127.0.0.1:3000 */
  url: string
  key: string | null
  /** @default 30000 */
  timeoutMs?: number
}

export interface Answer<T> {
  status: number
  body: T
  headers: Headers
}

export class ApiClient {
  readonly baseUrl: string
  readonly #key: string | null
  readonly #timeoutMs: number

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '')
    this.#key = options.key
    this.#timeoutMs = options.timeoutMs ?? 30_000
  }

  get key(): string | null {
    return this.#key
  }

  async request<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options: {
      body?: unknown
      query?: Record<string, string | number | boolean | undefined>
      headers?: Record<string, string>
    } = {},
  ): Promise<Answer<T>> {
    const url = new URL(`${this.baseUrl}${path}`)
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value))
    }
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
    if (this.#key !== null) headers.authorization = `Bearer ${this.#key}`
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      throw new ApiClientError({
        status: 0,
        code: 'FLEXTASK_CLIENT_UNREACHABLE',
        detail: `cannot reach the API at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      })
    }
    const text = await response.text()
    const body = text === '' ? undefined : (safeJson(text) as T)
    if (!response.ok) {
      const problem = (body ?? {}) as Partial<Problem>
      throw new ApiClientError({
        status: response.status,
        code: problem.code ?? `HTTP_${response.status}`,
        detail: problem.detail ?? (text || response.statusText),
        ...(problem.title === undefined ? {} : { title: problem.title }),
        ...(problem.field === undefined ? {} : { field: problem.field }),
      })
    }
    return { status: response.status, body: body as T, headers: response.headers }
  }

  /** The WebSocket URL of the live events with a filter and a resume position. */
  eventsUrl(query: Record<string, string | undefined>): string {
    const url = new URL(`${this.baseUrl.replace(/^http/, 'ws')}/api/events`)
    for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, value)
    return url.toString()
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Exit codes of the client commands (README): a script can tell what went wrong without parsing text. */
export const ExitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  unauthorized: 5,
  unavailable: 6,
} as const

export function exitCodeFor(error: unknown): number {
  if (!(error instanceof ApiClientError)) return ExitCodes.failure
  const { status } = error
  if (status === 400 || status === 413 || status === 422) return ExitCodes.usage
  if (status === 404) return ExitCodes.notFound
  if (status === 409) return ExitCodes.conflict
  if (status === 401 || status === 403) return ExitCodes.unauthorized
  if (status === 0 || status === 429 || status === 503) return ExitCodes.unavailable
  return ExitCodes.failure
}
