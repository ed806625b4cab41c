/**
 * Built-in `http` / `request`: one HTTP request to a URL from the payload, through the SSRF guard.
 *
 * Output: `{ status, url, headers: { content-type, content-length }, body, bodyBytes, truncated, durationMs }`
 * with `url` shown without userinfo and with secret query values replaced. Secrets (Authorization, Cookie,
 * token / key / password headers, URL userinfo and secret query values) are registered with `ctx.redact`, so they
 * appear in no output, error or log line even when the server echoes them.
 *
 * A status outside `expectedStatus` fails the attempt (FLEXTASK_HTTP_UNEXPECTED_STATUS): retriable for 408, 425,
 * 429 and 5xx, not retriable otherwise. Redirects are not followed (a 3xx is a status like any other: list it in
 * expectedStatus to accept it); following them would need a check per hop, which the guard does, but no built-in
 * needs it yet.
 */
import Type from 'typebox'
import { defineHandler, type Handler, handlerError } from '../handler.ts'
import { displayUrl, type GuardedHttp, HttpErrorCodes, secretsOf } from './http-client.ts'

export const httpRequestPayload = Type.Object({
  method: Type.Optional(
    Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m))),
  ),
  url: Type.String({ pattern: '^https?://' }),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  /** A string is sent as is; anything else as JSON (with content-type application/json unless set). */
  body: Type.Optional(Type.Unknown()),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
  expectedStatus: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1 })),
  maxResponseBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_485_760 })),
})

export function httpRequestHandler(http: GuardedHttp): Handler {
  return defineHandler({
    category: 'http',
    type: 'request',
    description: 'One HTTP request; SSRF-guarded; expected status codes; capped body',
    payloadSchema: httpRequestPayload,
    async execute(ctx) {
      const p = ctx.payload
      const headers: Record<string, string> = { ...p.headers }
      for (const secret of secretsOf(p.url, headers)) ctx.redact(secret)
      const url = new URL(p.url)
      if (url.username !== '' || url.password !== '') {
        const has = Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')
        if (!has) {
          const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
          const basic = Buffer.from(credentials).toString('base64')
          ctx.redact(basic)
          headers.authorization = `Basic ${basic}`
        }
        url.username = ''
        url.password = ''
      }
      let body: string | undefined
      if (typeof p.body === 'string') body = p.body
      else if (p.body !== undefined) {
        body = JSON.stringify(p.body)
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
          headers['content-type'] = 'application/json'
      }
      const method = p.method ?? (body === undefined ? 'GET' : 'POST')
      ctx.log.info(`${method} ${displayUrl(p.url)}`)
      const response = await http.call(
        {
          method,
          url: url.toString(),
          headers,
          ...(body === undefined ? {} : { body }),
          timeoutMs: p.timeoutMs ?? 30_000,
          maxResponseBytes: p.maxResponseBytes ?? 65_536,
        },
        ctx.signal,
      )
      const expected = p.expectedStatus ?? []
      const ok =
        expected.length > 0 ? expected.includes(response.status) : response.status >= 200 && response.status < 300
      if (!ok) {
        const retriable = [408, 425, 429].includes(response.status) || response.status >= 500
        throw handlerError(
          HttpErrorCodes.status,
          `${method} ${displayUrl(p.url)} answered ${response.status}, expected ${expected.length > 0 ? expected.join(', ') : '2xx'}: ${response.body.slice(0, 200)}`,
          { retriable },
        )
      }
      ctx.log.info(`${response.status} in ${response.durationMs} ms`, { bytes: response.bodyBytes })
      return {
        status: response.status,
        url: displayUrl(p.url),
        headers: pick(response.headers, ['content-type', 'content-length']),
        body: response.body,
        bodyBytes: response.bodyBytes,
        truncated: response.truncated,
        durationMs: response.durationMs,
      }
    },
  })
}

function pick(headers: Record<string, string>, names: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const n of names) if (headers[n] !== undefined) out[n] = headers[n]
  return out
}
