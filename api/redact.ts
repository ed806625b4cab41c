/**
 * What reads never return: the values of payload fields that are secrets. A field is secret when its key looks
 * like one (the same names the HTTP worker scrubs from headers: authorization, cookie, token, secret, password,
 * api key, signature, credential), at any depth, or when its dotted path is listed in the task's label
 * `flextask.secret-paths` (comma-separated, e.g. `smtp.auth.user,target`). Redacted values read `[REDACTED]`.
 */
export const secretKey = /authorization|cookie|token|secret|password|passwd|api[-_]?key|signature|credential/i
export const secretPathsLabel = 'flextask.secret-paths'
export const redacted = '[REDACTED]'

export function redactPayload(payload: unknown, labels: Record<string, string> = {}): unknown {
  const paths = new Set(
    (labels[secretPathsLabel] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  )
  return walk(payload, '', paths)
}

function walk(value: unknown, path: string, paths: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((item, i) => walk(item, path === '' ? String(i) : `${path}.${i}`, paths))
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const at = path === '' ? key : `${path}.${key}`
    out[key] = secretKey.test(key) || paths.has(at) ? redacted : walk(inner, at, paths)
  }
  return out
}

/** Parses JSON payload text and redacts it; text that is not JSON is withheld entirely. */
export function redactPayloadText(text: string, labels: Record<string, string> = {}): unknown {
  try {
    return redactPayload(JSON.parse(text) as unknown, labels)
  } catch {
    return redacted
  }
}
