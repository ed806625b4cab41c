/**
 * Built-in `email` / `send`: one message over SMTP with nodemailer (10.6.0, pinned with smtp-server).
 *
 * The SMTP host is resolved and checked by the same SSRF policy as http (the payload names it), and nodemailer
 * connects to the checked address with the host name kept for TLS (SNI and certificate check). TLS: `secure: true`
 * is TLS from the first byte (port 465); otherwise `starttls` decides: `opportunistic` (default: upgrade when the
 * server offers it), `required` (fail without it) or `never`. nodemailer takes no AbortSignal: an abort closes the
 * transport. Output: `{ messageId, accepted, rejected, response }`. An SMTP 5xx answer fails the attempt for good
 * (FLEXTASK_EMAIL_REJECTED, not retriable); 4xx answers and connection failures are retriable
 * (FLEXTASK_EMAIL_FAILED). The password never appears in results or logs.
 */
import { isIP } from 'node:net'
import nodemailer from 'nodemailer'
import Type from 'typebox'
import { FlextaskError } from '../../errors.ts'
import { defineHandler, type Handler, handlerError } from '../handler.ts'
import { AddressChecker, type Resolver, resolveChecked, type SsrfPolicy, systemResolver } from './ssrf-guard.ts'

const addresses = Type.Union([
  Type.String({ minLength: 3 }),
  Type.Array(Type.String({ minLength: 3 }), { minItems: 1 }),
])

export const emailSendPayload = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_535 })),
  secure: Type.Optional(Type.Boolean()),
  starttls: Type.Optional(Type.Union([Type.Literal('opportunistic'), Type.Literal('required'), Type.Literal('never')])),
  auth: Type.Optional(Type.Object({ user: Type.String(), pass: Type.String() })),
  /** PEM CA certificate(s) trusted for the server's TLS certificate. */
  ca: Type.Optional(Type.String()),
  from: Type.String({ minLength: 3 }),
  to: addresses,
  cc: Type.Optional(addresses),
  bcc: Type.Optional(addresses),
  subject: Type.String(),
  text: Type.Optional(Type.String()),
  html: Type.Optional(Type.String()),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
})

export const EmailErrorCodes = { rejected: 'FLEXTASK_EMAIL_REJECTED', failed: 'FLEXTASK_EMAIL_FAILED' } as const

export function emailSendHandler(policy: SsrfPolicy, resolve: Resolver = systemResolver): Handler {
  const checker = new AddressChecker(policy)
  return defineHandler({
    category: 'email',
    type: 'send',
    description: 'One email over SMTP (nodemailer); STARTTLS/TLS, auth',
    payloadSchema: emailSendPayload,
    async execute(ctx) {
      const p = ctx.payload
      if (p.auth) ctx.redact(p.auth.pass)
      const address = await checkedAddress(checker, p.host, resolve)
      const timeout = p.timeoutMs ?? 30_000
      const transport = nodemailer.createTransport({
        host: address,
        port: p.port ?? (p.secure === true ? 465 : 587),
        secure: p.secure ?? false,
        requireTLS: p.starttls === 'required',
        ignoreTLS: p.starttls === 'never',
        ...(p.auth ? { auth: { user: p.auth.user, pass: p.auth.pass } } : {}),
        tls: { ...(isIP(p.host) === 0 ? { servername: p.host } : {}), ...(p.ca === undefined ? {} : { ca: p.ca }) },
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
      })
      const onAbort = (): void => transport.close()
      ctx.signal.addEventListener('abort', onAbort)
      try {
        ctx.log.info(`sending "${p.subject}" to ${[p.to].flat().join(', ')} via ${p.host}`)
        const info = (await transport.sendMail({
          from: p.from,
          to: p.to,
          ...(p.cc === undefined ? {} : { cc: p.cc }),
          ...(p.bcc === undefined ? {} : { bcc: p.bcc }),
          subject: p.subject,
          ...(p.text === undefined ? {} : { text: p.text }),
          ...(p.html === undefined ? {} : { html: p.html }),
          headers: { 'X-Flextask-Execution-Id': ctx.executionId },
        })) as { messageId: string; accepted: unknown[]; rejected: unknown[]; response: string }
        return { messageId: info.messageId, accepted: info.accepted, rejected: info.rejected, response: info.response }
      } catch (error) {
        if (ctx.signal.aborted) throw ctx.signal.reason
        const e = error as { message?: string; responseCode?: number; code?: string }
        const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500
        throw handlerError(
          permanent ? EmailErrorCodes.rejected : EmailErrorCodes.failed,
          `SMTP ${p.host}: ${e.responseCode ?? e.code ?? ''} ${e.message ?? String(error)}`.trim(),
          { retriable: !permanent, cause: error },
        )
      } finally {
        ctx.signal.removeEventListener('abort', onAbort)
        transport.close()
      }
    },
  })
}

async function checkedAddress(checker: AddressChecker, host: string, resolve: Resolver): Promise<string> {
  try {
    return await resolveChecked(checker, host, resolve)
  } catch (error) {
    if (error instanceof FlextaskError) throw error
    throw handlerError(EmailErrorCodes.failed, `cannot resolve ${host}: ${(error as Error).message}`, {
      retriable: true,
    })
  }
}
