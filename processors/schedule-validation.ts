/**
 * Whether a schedule is well formed: the first violation, with the field path and a message that names it.
 * ScheduleCalculator.validate is the entry point; the calculator assumes a spec that passed.
 */
import type { Cron } from 'croner'
import { FallBackRepeats, type ScheduleSpec } from '../schemas/task-definition.ts'
import { compileCron } from './compiled-cron.ts'

export const ScheduleKinds = { cron: 'CRON', interval: 'INTERVAL', oneShot: 'ONE_SHOT', delay: 'DELAY' } as const
export type ScheduleKind = (typeof ScheduleKinds)[keyof typeof ScheduleKinds]

/** The first problem found in a spec; `field` is a path such as `schedule.cron`. */
export interface ScheduleViolation {
  readonly field: string
  readonly message: string
}

const secondMs = 1000
const dayMs = 86_400_000
const minEveryMs = secondMs
const maxEveryMs = 366 * dayMs
const maxCronLength = 256
/** croner searches up to year 3000 from here: more than one 400-year Gregorian cycle, so "no slot" means never. */
const neverFiresProbeMs = 0
const kindField = { CRON: 'cron', INTERVAL: 'everyMs', ONE_SHOT: 'atMs', DELAY: 'delayMs' } as const
const kindFields = ['cron', 'everyMs', 'atMs', 'delayMs'] as const

function violation(field: string, message: string): ScheduleViolation {
  return { field: `schedule.${field}`, message: `schedule.${field} ${message}` }
}

function isNonNegativeInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0
}

function checkKindFields(spec: ScheduleSpec): ScheduleViolation | null {
  if (!Object.values(ScheduleKinds).includes(spec.kind)) {
    return violation('kind', `must be one of ${Object.values(ScheduleKinds).join(', ')}, got ${String(spec.kind)}`)
  }
  const needed = kindField[spec.kind]
  for (const field of kindFields) {
    if (field === needed && spec[field] === null) return violation(field, `is required for a ${spec.kind} schedule`)
    if (field !== needed && spec[field] !== null) return violation(field, `must be null for a ${spec.kind} schedule`)
  }
  if (spec.kind !== 'INTERVAL' && spec.phaseMs !== 0) {
    return violation('phaseMs', `applies only to INTERVAL schedules and must be 0, got ${spec.phaseMs}`)
  }
  if (!FallBackRepeats.includes(spec.fallBackRepeat)) {
    return violation(
      'fallBackRepeat',
      `must be one of ${FallBackRepeats.join(', ')}, got ${String(spec.fallBackRepeat)}`,
    )
  }
  if (spec.kind !== 'CRON' && spec.fallBackRepeat !== 'BY_PATTERN') {
    return violation(
      'fallBackRepeat',
      `applies only to CRON schedules and must be BY_PATTERN, got ${spec.fallBackRepeat}`,
    )
  }
  return null
}

/** Zones that passed the check; Intl.DateTimeFormat construction dominated ingest CPU (~44 µs each). */
const knownZones = new Set<string>()

function checkTimezone(zone: string): ScheduleViolation | null {
  if (knownZones.has(zone)) return null
  if (typeof zone !== 'string' || zone.trim() === '') {
    return violation('timezone', `must be an IANA time zone such as UTC or Europe/Berlin, got ${JSON.stringify(zone)}`)
  }
  if (/^[+-]/.test(zone)) return violation('timezone', `must be an IANA zone name, not a UTC offset, got ${zone}`)
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    if (knownZones.size < 1000) knownZones.add(zone)
  } catch {
    return violation('timezone', `is not a known IANA time zone, got ${JSON.stringify(zone)}`)
  }
  return null
}

function checkCron(pattern: string): ScheduleViolation | null {
  if (pattern.length > maxCronLength) return violation('cron', `must be at most ${maxCronLength} characters`)
  const fieldCount = pattern.trim().split(/\s+/).length
  if (fieldCount === 7) {
    return violation('cron', `has 7 fields; a year field is not supported, use 5 fields or 6 with seconds first`)
  }
  let cron: Cron
  try {
    cron = compileCron(pattern).matcher
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error)
    return violation('cron', `is not a valid cron pattern (${reason}), got ${JSON.stringify(pattern)}`)
  }
  if (cron.nextRun(new Date(neverFiresProbeMs)) === null) {
    return violation('cron', `never fires: no calendar date matches ${JSON.stringify(pattern)} (e.g. February 30)`)
  }
  return null
}

function checkTiming(spec: ScheduleSpec): ScheduleViolation | null {
  const { everyMs, phaseMs, atMs, delayMs } = spec
  if (spec.cron !== null) return checkCron(spec.cron)
  if (everyMs !== null) {
    if (!Number.isSafeInteger(everyMs) || everyMs < minEveryMs || everyMs > maxEveryMs) {
      return violation('everyMs', `must be an integer from ${minEveryMs} to ${maxEveryMs} (366 days), got ${everyMs}`)
    }
    if (!isNonNegativeInteger(phaseMs) || phaseMs >= everyMs) {
      return violation('phaseMs', `must be an integer >= 0 and < everyMs (${everyMs}), got ${phaseMs}`)
    }
  }
  if (atMs !== null && !isNonNegativeInteger(atMs)) {
    return violation('atMs', `must be a non-negative integer epoch ms, got ${atMs}`)
  }
  if (delayMs !== null && !isNonNegativeInteger(delayMs)) {
    return violation('delayMs', `must be a non-negative integer, got ${delayMs}`)
  }
  return null
}

function checkBounds(spec: ScheduleSpec): ScheduleViolation | null {
  const { startAtMs, endAtMs, atMs, maxRuns } = spec
  if (startAtMs !== null && !isNonNegativeInteger(startAtMs)) {
    return violation('startAtMs', `must be a non-negative integer epoch ms, got ${startAtMs}`)
  }
  if (endAtMs !== null && !isNonNegativeInteger(endAtMs)) {
    return violation('endAtMs', `must be a non-negative integer epoch ms, got ${endAtMs}`)
  }
  if (startAtMs !== null && endAtMs !== null && endAtMs <= startAtMs) {
    return violation('endAtMs', `must be after startAtMs (${startAtMs}), got ${endAtMs}`)
  }
  if (atMs !== null && ((startAtMs !== null && atMs < startAtMs) || (endAtMs !== null && atMs > endAtMs))) {
    return violation('atMs', `lies outside [startAtMs, endAtMs], so the schedule would never fire, got ${atMs}`)
  }
  if (maxRuns !== null && (!Number.isSafeInteger(maxRuns) || maxRuns < 1)) {
    return violation('maxRuns', `must be an integer >= 1 when set, got ${maxRuns}`)
  }
  return null
}

/** The first problem with the spec, or null when it is valid. Checks kind fields, zone, timing, bounds. */
export function validateSchedule(spec: ScheduleSpec): ScheduleViolation | null {
  return checkKindFields(spec) ?? checkTimezone(spec.timezone) ?? checkTiming(spec) ?? checkBounds(spec)
}
