/**
 * The API's one error shape and one registry: every FLEXTASK_ error code an HTTP answer can carry, with its status
 * and title. Answers are RFC 9457 problem details (`application/problem+json`):
 *
 *   { "type": "https://flextask.dev/problems/schedule-invalid", "title": "Invalid schedule", "status": 400,
 *     "detail": "schedule.cron: is not a valid cron pattern …", "code": "FLEXTASK_SCHEDULE_INVALID",
 *     "field": "schedule.cron", "instance": "/api/tasks" }
 *
 * `code` and `field` are extension members (RFC 9457 §3.2). A code missing from the registry answers 500, so a new
 * error path is a registry line, never a status picked at the throw site.
 */
import { ErrorCodes, FlextaskError, coerceError } from '../errors.ts'
import { SchedulerErrorCodes } from '../processors/scheduler-errors.ts'

export const ApiErrorCodes = {
  requestInvalid: 'FLEXTASK_API_REQUEST_INVALID',
  unauthorized: 'FLEXTASK_API_UNAUTHORIZED',
  forbidden: 'FLEXTASK_API_FORBIDDEN',
  taskNotFound: 'FLEXTASK_API_TASK_NOT_FOUND',
  executionNotFound: 'FLEXTASK_API_EXECUTION_NOT_FOUND',
  routeNotFound: 'FLEXTASK_API_ROUTE_NOT_FOUND',
  conflict: 'FLEXTASK_API_CONFLICT',
  versionMismatch: 'FLEXTASK_API_VERSION_MISMATCH',
  bodyTooLarge: 'FLEXTASK_API_BODY_TOO_LARGE',
  headersTooLarge: 'FLEXTASK_API_HEADERS_TOO_LARGE',
  requestTimeout: 'FLEXTASK_API_REQUEST_TIMEOUT',
  uriTooLong: 'FLEXTASK_API_URI_TOO_LONG',
  unsupportedMediaType: 'FLEXTASK_API_UNSUPPORTED_MEDIA_TYPE',
  upgradeRequired: 'FLEXTASK_API_UPGRADE_REQUIRED',
  rateLimited: 'FLEXTASK_API_RATE_LIMITED',
  projectionBehind: 'FLEXTASK_API_PROJECTION_BEHIND',
  unavailable: 'FLEXTASK_API_UNAVAILABLE',
  internal: 'FLEXTASK_API_INTERNAL',
} as const

interface ProblemType {
  status: number
  title: string
  /** The last segment of the `type` URI. */
  slug: string
}

/** code, status, title, slug (the last segment of the `type` URI): one row per code an answer can carry. */
const problemTypes: readonly (readonly [code: string, status: number, title: string, slug: string])[] = [
  [ApiErrorCodes.requestInvalid, 400, 'Invalid request', 'request-invalid'],
  [ErrorCodes.validation, 400, 'Invalid schedule', 'schedule-invalid'],
  [SchedulerErrorCodes.definitionInvalid, 400, 'Invalid task definition', 'definition-invalid'],
  [SchedulerErrorCodes.oversized, 400, 'Payload too large', 'payload-oversized'],
  [ErrorCodes.serdeEncode, 400, 'Invalid task definition', 'definition-invalid'],
  [ApiErrorCodes.unauthorized, 401, 'Unauthorized', 'unauthorized'],
  [ApiErrorCodes.forbidden, 403, 'Forbidden', 'forbidden'],
  [ApiErrorCodes.taskNotFound, 404, 'Task not found', 'task-not-found'],
  [ApiErrorCodes.executionNotFound, 404, 'Execution not found', 'execution-not-found'],
  [ApiErrorCodes.routeNotFound, 404, 'Not found', 'route-not-found'],
  [ApiErrorCodes.conflict, 409, 'Conflict', 'conflict'],
  [ApiErrorCodes.versionMismatch, 409, 'Version mismatch', 'version-mismatch'],
  [ApiErrorCodes.requestTimeout, 408, 'Request timeout', 'request-timeout'],
  [ApiErrorCodes.bodyTooLarge, 413, 'Request body too large', 'body-too-large'],
  [ApiErrorCodes.uriTooLong, 414, 'URI too long', 'uri-too-long'],
  [ApiErrorCodes.headersTooLarge, 431, 'Request header fields too large', 'headers-too-large'],
  [ApiErrorCodes.unsupportedMediaType, 415, 'Unsupported media type', 'unsupported-media-type'],
  [ApiErrorCodes.upgradeRequired, 426, 'Upgrade required', 'upgrade-required'],
  [ApiErrorCodes.rateLimited, 429, 'Too many requests', 'rate-limited'],
  [ApiErrorCodes.internal, 500, 'Internal error', 'internal'],
  [ApiErrorCodes.projectionBehind, 503, 'Read model behind', 'projection-behind'],
  [ApiErrorCodes.unavailable, 503, 'Service unavailable', 'unavailable'],
  [ErrorCodes.registry, 503, 'Schema registry unavailable', 'registry-unavailable'],
]

/** Every code an answer can carry. */
export const problemRegistry: Readonly<Record<string, ProblemType>> = Object.fromEntries(
  problemTypes.map(([code, status, title, slug]) => [code, { status, title, slug }]),
)

export const problemTypeBase = 'https://flextask.dev/problems/'
export const problemContentType = 'application/problem+json'

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance?: string
  field?: string
}

/** A coded API error; `field` names the request field at fault (400s). */
export function apiError(code: string, message: string, field?: string): FlextaskError {
  return new FlextaskError(code, message, { context: field === undefined ? {} : { field } })
}

/** Fastify's own error codes, mapped onto ours. */
const fastifyCodes: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ApiErrorCodes.bodyTooLarge,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ApiErrorCodes.unsupportedMediaType,
  FST_ERR_CTP_EMPTY_JSON_BODY: ApiErrorCodes.requestInvalid,
  FST_ERR_CTP_INVALID_JSON_BODY: ApiErrorCodes.requestInvalid,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ApiErrorCodes.requestInvalid,
  FST_ERR_VALIDATION: ApiErrorCodes.requestInvalid,
  FST_ERR_BAD_URL: ApiErrorCodes.requestInvalid,
  FST_ERR_MAX_PARAM_LENGTH: ApiErrorCodes.uriTooLong,
  FST_BEARER_AUTH_MISSING_AUTHORIZATION_HEADER: ApiErrorCodes.unauthorized,
  FST_BEARER_AUTH_INVALID_AUTHORIZATION_HEADER: ApiErrorCodes.unauthorized,
}

interface FastifyValidationError {
  instancePath?: string
  message?: string
  params?: {
    missingProperty?: string
    additionalProperty?: string
    requiredProperties?: string[]
    additionalProperties?: string[]
  }
}

/** The problem for any thrown value; unknown failures become 500 without leaking their message. */
export function toProblem(error: unknown, instance?: string): Problem {
  const raw = error as { code?: unknown; validation?: FastifyValidationError[]; validationContext?: string }
  const mapped = typeof raw?.code === 'string' ? fastifyCodes[raw.code] : undefined
  if (mapped !== undefined) {
    const field = Array.isArray(raw.validation) ? validationField(raw.validation[0], raw.validationContext) : undefined
    const detail = field !== undefined ? `${field.path}: ${field.message}` : (error as Error).message
    return build(mapped, detail, instance, field?.path)
  }
  const coded = coerceError(error, ApiErrorCodes.internal)
  // Unknown failures (a database error, a bug) never leak their message: the server log has it.
  if (problemRegistry[coded.code] === undefined || coded.code === ApiErrorCodes.internal) {
    return build(ApiErrorCodes.internal, 'internal error', instance)
  }
  const field = typeof coded.context.field === 'string' ? coded.context.field : undefined
  return build(coded.code, coded.message, instance, field)
}

function build(code: string, detail: string, instance?: string, field?: string): Problem {
  const type = problemRegistry[code] ?? problemRegistry[ApiErrorCodes.internal]!
  return {
    type: `${problemTypeBase}${type.slug}`,
    title: type.title,
    status: type.status,
    detail,
    code,
    ...(instance === undefined ? {} : { instance }),
    ...(field === undefined ? {} : { field }),
  }
}

/** `schedule.cron` from AJV's `/schedule/cron`, plus the missing or extra property when AJV names one. */
function validationField(
  entry: FastifyValidationError | undefined,
  context: string | undefined,
): { path: string; message: string } | undefined {
  if (entry === undefined) return undefined
  const segments = (entry.instancePath ?? '').split('/').filter(Boolean)
  const p = entry.params
  const named =
    p?.missingProperty ?? p?.additionalProperty ?? p?.requiredProperties?.[0] ?? p?.additionalProperties?.[0]
  if (named !== undefined) segments.push(named)
  const path = segments.length > 0 ? segments.join('.') : (context ?? 'body')
  return { path, message: entry.message ?? 'is invalid' }
}

/**
 * The raw HTTP/1.1 answer to a request Node's parser refused before Fastify saw it (a header section over the
 * limit, an unknown method, malformed framing, a request timeout): problem+json like every other 4xx, then the
 * connection closes. Fastify's default writes its own JSON shape (found by the API fuzz, issue 15).
 */
export function clientErrorAnswer(parserCode: string | undefined): string {
  const code =
    parserCode === 'HPE_HEADER_OVERFLOW'
      ? ApiErrorCodes.headersTooLarge
      : parserCode === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ApiErrorCodes.requestTimeout
        : ApiErrorCodes.requestInvalid
  const problem = build(code, `the HTTP request could not be parsed (${parserCode ?? 'unknown error'})`)
  const body = JSON.stringify(problem)
  const reason = problemRegistry[code]?.title ?? 'Bad Request'
  return (
    `HTTP/1.1 ${problem.status} ${reason}\r\nContent-Type: ${problemContentType}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  )
}
