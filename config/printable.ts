/** The printable form of the config: secrets and URL passwords replaced, safe to log or serve. */
import { configFields, getPath, setPath } from './fields.ts'
import type { ResolvedConfig } from './sections.ts'

export const redacted = '[redacted]'

/**
 * The config with every secret replaced by `[redacted]` and URL passwords by `***`: the only form of the config
 * that may be logged, returned by an API or put in a metric label.
 */
export function printableConfig(config: ResolvedConfig): ResolvedConfig {
  const copy = structuredClone(config)
  for (const field of configFields) {
    const value = getPath(copy, field.path)
    if (field.secret === undefined || typeof value !== 'string') continue
    setPath(copy, field.path, field.secret === 'value' ? redacted : withoutUrlPassword(value))
  }
  return copy
}

/** The URL with its password (if any) as `***`; text that does not parse as a URL is redacted whole. */
export function withoutUrlPassword(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return redacted
  }
}
