/**
 * Parsing and checking of configuration values: the raw text of a variable into its kind, each field against its
 * kind, and the rules that span fields (worker limits, SASL and TLS pairs). Every error is FLEXTASK_CONFIG_INVALID
 * and names the path, and the variable when the value came from the environment.
 */
import { ErrorCodes, FlextaskError } from '../errors.ts'
import type { FieldSpec } from './fields.ts'
import type { ResolvedConfig, WorkerLimitRules } from './sections.ts'

export function parse(field: FieldSpec, raw: string): unknown {
  const kind = field.kind
  if (kind === 'json') {
    try {
      return JSON.parse(raw) as unknown
    } catch {
      return raw
    }
  }
  if (kind === 'list' || kind === 'optionalList')
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  if (kind === 'positiveInt' || kind === 'nonNegativeInt' || kind === 'port')
    return /^-?\d+$/.test(raw) ? Number(raw) : raw
  if (kind === 'boolean' || kind === 'booleanOrAuto') {
    const lower = raw.toLowerCase()
    if (['true', '1', 'yes'].includes(lower)) return true
    if (['false', '0', 'no'].includes(lower)) return false
    return kind === 'booleanOrAuto' && lower === 'auto' ? 'auto' : raw
  }
  if (typeof kind === 'object') return kind.nullable === true && raw.toLowerCase() === 'none' ? null : raw
  return raw
}

export function check(field: FieldSpec, value: unknown, fromEnv: boolean): void {
  const kind = field.kind
  const fail = (what: string): never => {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
    throw invalid(field.path, `${field.path} must be ${what}, got ${shown}${fromEnv ? ` (${field.env})` : ''}`)
  }
  const isInt = typeof value === 'number' && Number.isSafeInteger(value)
  if (kind === 'string' && (typeof value !== 'string' || value === '')) fail('a non-empty string')
  if (kind === 'optionalString' && value !== null && typeof value !== 'string') fail('a string')
  if (kind === 'list' && (!Array.isArray(value) || value.length === 0)) fail('a non-empty comma-separated list')
  if (kind === 'optionalList' && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
    fail('a comma-separated list')
  }
  if (kind === 'json' && (typeof value !== 'object' || value === null || Array.isArray(value))) fail('a JSON object')
  if (kind === 'positiveInt' && !(isInt && value > 0)) fail('a positive integer')
  if (kind === 'nonNegativeInt' && !(isInt && value >= 0)) fail('a non-negative integer')
  if (kind === 'port' && !(isInt && value >= 0 && value <= 65_535)) fail('a port number (0-65535)')
  if (kind === 'boolean' && typeof value !== 'boolean') fail('true or false')
  if (kind === 'booleanOrAuto' && typeof value !== 'boolean' && value !== 'auto') fail('true, false or auto')
  if (
    typeof kind === 'object' &&
    !(kind.nullable === true && value === null) &&
    !kind.oneOf.includes(value as string)
  ) {
    fail(`one of ${kind.oneOf.join(', ')}${kind.nullable === true ? ' or none' : ''}`)
  }
}

/** Fills the missing groups of worker.limits and checks every rule (names the path of a bad value). */
function checkWorkerLimits(config: ResolvedConfig): void {
  const given = config.worker.limits as Partial<WorkerLimitRules>
  const limits: WorkerLimitRules = {
    perCategory: given.perCategory ?? {},
    perType: given.perType ?? {},
    perTenant: given.perTenant ?? {},
  }
  for (const key of Object.keys(given)) {
    if (!(key in limits))
      throw invalid(
        'worker.limits',
        `worker.limits.${key} is not one of perCategory, perType, perTenant (FLEXTASK_WORKER_LIMITS)`,
      )
  }
  for (const [group, rules] of Object.entries(limits)) {
    for (const [name, rule] of Object.entries(rules as Record<string, Record<string, unknown>>)) {
      for (const [field, value] of Object.entries(rule)) {
        const path = `worker.limits.${group}.${name}.${field}`
        if (!['concurrency', 'ratePerSecond', 'burst'].includes(field)) {
          throw invalid(path, `${path} is not one of concurrency, ratePerSecond, burst (FLEXTASK_WORKER_LIMITS)`)
        }
        const ok = typeof value === 'number' && value > 0 && (field === 'ratePerSecond' || Number.isSafeInteger(value))
        if (!ok)
          throw invalid(
            path,
            `${path} must be a positive ${field === 'ratePerSecond' ? 'number' : 'integer'}, got ${JSON.stringify(value)} (FLEXTASK_WORKER_LIMITS)`,
          )
      }
    }
  }
  config.worker.limits = limits
}

export function checkCombinations(config: ResolvedConfig): void {
  checkWorkerLimits(config)
  const { sasl, tls } = config.kafka
  if (sasl.mechanism !== null && (sasl.username === null || sasl.password === null)) {
    throw invalid(
      'kafka.sasl',
      `kafka.sasl.username and kafka.sasl.password are required with kafka.sasl.mechanism ${sasl.mechanism} ` +
        '(KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD)',
    )
  }
  const registry = config.registry
  if ((registry.username === null) !== (registry.password === null)) {
    throw invalid(
      'registry',
      'registry.username and registry.password go together (SCHEMA_REGISTRY_USERNAME, SCHEMA_REGISTRY_PASSWORD)',
    )
  }
  if ((tls.certFile === null) !== (tls.keyFile === null)) {
    throw invalid(
      'kafka.tls',
      'kafka.tls.certFile and kafka.tls.keyFile go together (KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE)',
    )
  }
}

export function invalid(path: string, message: string): FlextaskError {
  return new FlextaskError(ErrorCodes.config, message, { context: { field: path } })
}
