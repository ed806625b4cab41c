/**
 * When a schedule fires: the source of truth for every due time flextask computes, and for whether a
 * schedule is well formed. Pure and deterministic: the same (spec, createdAtMs, afterMs) always gives the same
 * instant, because replaying the log after a crash or a rebalance recomputes due times from it. Instants are
 * UTC epoch milliseconds; wall times are "local epoch" milliseconds (the zone's wall clock written as if UTC).
 *
 * Kinds
 * - CRON: slots of a 5- or 6-field pattern (5 fields = second 0) on the wall clock of `timezone`.
 * - INTERVAL: anchor + k × everyMs for k ≥ 0, anchor = (startAtMs ?? createdAtMs) + phaseMs. No time zone.
 * - ONE_SHOT: once at atMs. DELAY: once at createdAtMs + delayMs.
 * Every kind fires only in [startAtMs, endAtMs] (both inclusive). maxRuns is counted by the caller.
 *
 * DST rules (the product promise; the README section "Daylight saving time" states them for users)
 * A pattern is fixed-time when its second, minute and hour fields are single values (`0 30 2 * * *`), and
 * periodic otherwise (`*`, steps, ranges or lists in any of the three): croner's "single-value" rule, Vixie
 * cron's wildcard rule extended to seconds. `schedule.fallBackRepeat` (schema version 2) may override rule b.
 * a. Spring-forward gap, both kinds: a wall time that does not exist fires once, at the first valid instant
 *    after the gap. `0 30 2 * * *` in America/New_York fires at 03:00 EDT on 2026-03-08, and every 15 minutes
 *    of the 02:00 hour (`0 0-59/15 2 * * *`) fires once at 03:00, not four times. Several gap slots, and a real
 *    slot at the gap's end, collapse into that one instant. (Vixie cron's rule, and croner's for fixed-time
 *    patterns; kestra-io/kestra#524 skipped them.)
 * b. Fall-back repeat: a fixed-time slot fires once, at its first (daylight-time) occurrence (FIRST_PASS_ONLY;
 *    kelektiv/node-cron#563 and #881 fired twice). A periodic schedule follows real time and fires on both passes
 *    (BOTH_PASSES): `0 * * * * *` in Europe/Berlin fires 180 times, once a minute, in 2026-10-24T23:30Z to
 *    2026-10-25T02:30Z, and `0 0 * * * *` fires at 02:00 CEST and again at 02:00 CET; a health check never goes
 *    quiet for the repeated hour (issue 8). Each pass is its own instant, so its own executionId.
 * c. So a fixed-time slot never fires twice on one local date and no slot is lost; an every-second pattern
 *    has no hole: 01:59:59 CET is followed by 03:00:00 CEST one second later (Hexagon/croner#343 went quiet).
 *    A periodic schedule's largest real-time gap is its largest gap on a UTC clock whenever the repeated
 *    stretch holds the same slots as the stretch before it (any pattern with `*` hours in a zone that shifts by
 *    whole hours); otherwise at most that gap plus the length of the repeat: `0 0 * * * *` in
 *    Australia/Lord_Howe, whose clock repeats 01:30–02:00, waits 90 minutes from 01:00 to 02:00, as on any
 *    wall-clock scheduler.
 *
 * How: croner 11 (https://croner.56k.guru) matches the pattern on a fixed UTC+0 clock, so it is only a
 * calendar-field matcher and its own DST handling never runs. Why not use croner's time zone support
 * directly: it skips "interval" (periodic) patterns in a gap, so `0 0-59/15 2 * * *` would not fire at all on
 * 2026-03-08. First pass: mapping a wall time to its first instant (or the gap's end) is monotonic
 * (non-decreasing), so "first slot whose instant is after afterMs" is one croner call plus a few Intl offset
 * lookups; when afterMs lies in the repeat of an overlap the search jumps to the overlap's end. Second pass:
 * a repeated slot can come before the next first-pass slot only when afterMs is within the repeat length of a
 * fall-back transition; offsets sampled once per zone and day find the transitions, a binary search (memoised)
 * locates one, and then one croner call lists the repeat. Zone data comes from the ICU in Node (process.versions.tz); a tzdata update can move
 * future instants.
 */
import type { Cron } from 'croner'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import type { FallBackRepeat, ScheduleSpec } from '../schemas/task-definition.ts'
import { cached, compileCron } from './compiled-cron.ts'
import { validateSchedule, type ScheduleViolation } from './schedule-validation.ts'

export type { ScheduleSpec }
export { ScheduleKinds, type ScheduleKind, type ScheduleViolation } from './schedule-validation.ts'

const secondMs = 1000
const dayMs = 86_400_000

/** A fall-back transition: at `atMs` the offset drops from `fromOffsetMs` to `toOffsetMs`. */
interface FallBack {
  readonly atMs: number
  readonly fromOffsetMs: number
  readonly toOffsetMs: number
}

// Memoisation only (outputs never depend on it), bounded and least-recently-used first out (compiled-cron.ts).
const formatters = new Map<string, Intl.DateTimeFormat>()
const fallBacks = new Map<string, FallBack>()
const dayOffsets = new Map<string, number>()

/** Whether slots in a repeated (fall-back) stretch fire on both passes: the override, or rule b by pattern. */
function firesBothPasses(repeat: FallBackRepeat, fixedTime: boolean): boolean {
  switch (repeat) {
    case 'BY_PATTERN':
      return !fixedTime
    case 'FIRST_PASS_ONLY':
      return false
    case 'BOTH_PASSES':
      return true
  }
}

/** The zone's UTC offset at an instant, in ms: wall time = instant + offset. */
function offsetMs(zone: string, instantMs: number): number {
  const wholeSecondMs = Math.floor(instantMs / secondMs) * secondMs
  const formatter = cached(
    formatters,
    zone,
    () =>
      new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      }),
  )
  const field = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0 }
  for (const { type, value } of formatter.formatToParts(wholeSecondMs)) {
    if (type in field) field[type as keyof typeof field] = Number(value)
  }
  const wallMs = Date.UTC(field.year, field.month - 1, field.day, field.hour, field.minute, field.second)
  return wallMs - wholeSecondMs
}

/** Every instant showing this wall time, earliest first: one, two (overlap) or none (gap). */
function instantsAtWall(zone: string, wallMs: number): number[] {
  const before = offsetMs(zone, wallMs - dayMs)
  const after = offsetMs(zone, wallMs + dayMs)
  const offsets = before === after ? [before] : [Math.max(before, after), Math.min(before, after)]
  return offsets
    .map((offset) => wallMs - offset)
    .filter((instantMs) => instantMs + offsetMs(zone, instantMs) === wallMs)
}

/** The first whole second in (fromMs, toMs] whose offset differs from the one at fromMs (toMs if none). */
function transitionBetween(zone: string, fromMs: number, toMs: number): number {
  const offsetAtFrom = offsetMs(zone, fromMs)
  let low = fromMs
  let high = toMs
  while (high - low > secondMs) {
    const middle = low + Math.floor((high - low) / 2 / secondMs) * secondMs
    if (offsetMs(zone, middle) === offsetAtFrom) low = middle
    else high = middle
  }
  return high
}

/** The instant a wall-time slot fires at: rule b (first of two) and rule a (end of the gap). */
function instantForWall(zone: string, wallMs: number): number {
  const [first] = instantsAtWall(zone, wallMs)
  if (first !== undefined) return first
  const before = offsetMs(zone, wallMs - dayMs)
  const after = offsetMs(zone, wallMs + dayMs)
  // In a gap the clock jumps from the smaller offset to the larger: wall − larger is before the jump, wall −
  // smaller after it, and the jump itself is the first valid instant after the gap.
  return transitionBetween(zone, wallMs - Math.max(before, after), wallMs - Math.min(before, after))
}

/** The wall time to search from so that every later slot fires after afterMs (rule b skips the repeat). */
function searchFromWall(zone: string, afterMs: number): number {
  const offset = offsetMs(zone, afterMs)
  const wholeSecondMs = Math.floor(afterMs / secondMs) * secondMs
  const [first] = instantsAtWall(zone, wholeSecondMs + offset)
  if (first === undefined || first >= wholeSecondMs) return afterMs + offset
  // afterMs is in the repeat of an overlap, whose slots fired in the first pass: resume where the repeat ends,
  // at the jump back plus the daylight offset (1 ms before, as croner looks strictly after and drops ms).
  return transitionBetween(zone, first, wholeSecondMs) + offsetMs(zone, first) - 1
}

/** Rules a and b for the first pass: the first slot whose first instant (or gap end) is after afterMs. */
function firstPassAfter(matcher: Cron, zone: string, afterMs: number): number | null {
  let fromWallMs = searchFromWall(zone, afterMs)
  // The wall → instant mapping is monotonic, so the first slot already fires after afterMs; the guard only
  // keeps a zone with two transitions a day apart from looping.
  for (let guard = 0; guard < 16; guard++) {
    const slot = matcher.nextRun(new Date(fromWallMs))
    if (slot === null) return null
    const instantMs = instantForWall(zone, slot.getTime())
    if (instantMs > afterMs) return instantMs
    fromWallMs = slot.getTime()
  }
  throw new FlextaskError(ErrorCodes.validation, `no cron slot after ${afterMs} maps past it in ${zone}`, {
    context: { field: 'schedule.cron' },
  })
}

/** The zone's offset at the start of a UTC day: samples that find a transition without a lookup per call. */
function offsetAtDay(zone: string, day: number): number {
  return cached(dayOffsets, `${zone}|${day}`, () => offsetMs(zone, day * dayMs))
}

/**
 * A fall-back transition in the days around instantMs (from the day before to the end of the day after), if
 * any; at most one transition in three days, as instantsAtWall assumes one per day.
 */
function fallBackNear(zone: string, instantMs: number): FallBack | null {
  const day = Math.floor(instantMs / dayMs)
  const fromOffsetMs = offsetAtDay(zone, day - 1)
  const toOffsetMs = offsetAtDay(zone, day + 2)
  if (fromOffsetMs <= toOffsetMs) return null
  return cached(fallBacks, `${zone}|${day}`, () => ({
    atMs: transitionBetween(zone, (day - 1) * dayMs, (day + 2) * dayMs),
    fromOffsetMs,
    toOffsetMs,
  }))
}

/**
 * The first second-pass instant after afterMs: the repeat [atMs, atMs + shift) shows the wall times
 * [atMs + toOffset, atMs + fromOffset) a second time.
 */
function secondPassAfter(matcher: Cron, fallBack: FallBack, afterMs: number): number | null {
  const { atMs, fromOffsetMs, toOffsetMs } = fallBack
  if (afterMs >= atMs + fromOffsetMs - toOffsetMs) return null
  // croner looks strictly after and drops ms: from 1 ms before the repeat, its first whole second is included.
  const slot = matcher.nextRun(new Date(Math.max(afterMs, atMs - 1) + toOffsetMs))
  if (slot === null || slot.getTime() >= atMs + fromOffsetMs) return null
  return slot.getTime() - toOffsetMs
}

/**
 * First-pass instants never lie in a repeat [atMs, atMs + shift), second-pass ones always do, so at most one
 * of the two searches runs except at the repeat's edge. Before the first pass of the repeated wall times
 * (afterMs < atMs − shift) every repeated slot comes first on its first pass.
 */
function cronAfter(spec: ScheduleSpec, pattern: string, afterMs: number): number | null {
  const { matcher, fixedTime } = compileCron(pattern)
  const zone = spec.timezone
  const fallBack = firesBothPasses(spec.fallBackRepeat, fixedTime) ? fallBackNear(zone, afterMs) : null
  if (fallBack === null) return firstPassAfter(matcher, zone, afterMs)
  const { atMs, fromOffsetMs, toOffsetMs } = fallBack
  if (afterMs < atMs - (fromOffsetMs - toOffsetMs)) return firstPassAfter(matcher, zone, afterMs)
  if (afterMs >= atMs) return secondPassAfter(matcher, fallBack, afterMs) ?? firstPassAfter(matcher, zone, afterMs)
  const first = firstPassAfter(matcher, zone, afterMs)
  if (first !== null && first < atMs) return first
  return secondPassAfter(matcher, fallBack, afterMs) ?? first
}

function required<T>(value: T | null, field: string, kind: string): T {
  if (value === null) {
    throw new FlextaskError(ErrorCodes.validation, `schedule.${field} is required for a ${kind} schedule`, {
      context: { field: `schedule.${field}` },
    })
  }
  return value
}

/** The first occurrence after afterMs, ignoring startAtMs except as the INTERVAL anchor, and endAtMs. */
function unboundedAfter(spec: ScheduleSpec, createdAtMs: number, afterMs: number): number | null {
  switch (spec.kind) {
    case 'CRON':
      return cronAfter(spec, required(spec.cron, 'cron', spec.kind), afterMs)
    case 'INTERVAL': {
      const everyMs = required(spec.everyMs, 'everyMs', spec.kind)
      const anchorMs = (spec.startAtMs ?? createdAtMs) + spec.phaseMs
      if (afterMs < anchorMs) return anchorMs
      return anchorMs + (Math.floor((afterMs - anchorMs) / everyMs) + 1) * everyMs
    }
    case 'ONE_SHOT': {
      const atMs = required(spec.atMs, 'atMs', spec.kind)
      return atMs > afterMs ? atMs : null
    }
    case 'DELAY': {
      const dueMs = createdAtMs + required(spec.delayMs, 'delayMs', spec.kind)
      return dueMs > afterMs ? dueMs : null
    }
    default:
      throw new FlextaskError(ErrorCodes.validation, `schedule.kind is not a known kind: ${String(spec.kind)}`, {
        context: { field: 'schedule.kind' },
      })
  }
}

/** Static and `this`-free, so its methods can be passed around or destructured. */
export class ScheduleCalculator {
  /**
   * The first instant strictly after afterMs at which the schedule fires, within [startAtMs, endAtMs], or null
   * when there is none. Expects a spec that `validate` accepted; throws FLEXTASK_SCHEDULE_INVALID otherwise.
   */
  static occurrenceAfter(this: void, spec: ScheduleSpec, createdAtMs: number, afterMs: number): number | null {
    const fromMs = spec.startAtMs === null ? afterMs : Math.max(afterMs, spec.startAtMs - 1)
    const instantMs = unboundedAfter(spec, createdAtMs, fromMs)
    if (instantMs === null || (spec.endAtMs !== null && instantMs > spec.endAtMs)) return null
    return instantMs
  }

  /** The instants in (afterMs, untilMs], earliest first, at most `limit` of them (misfire catch-up). */
  static occurrencesBetween(
    this: void,
    spec: ScheduleSpec,
    createdAtMs: number,
    afterMs: number,
    untilMs: number,
    limit: number,
  ): number[] {
    const instants: number[] = []
    let cursorMs = afterMs
    while (instants.length < limit) {
      const nextMs = ScheduleCalculator.occurrenceAfter(spec, createdAtMs, cursorMs)
      if (nextMs === null || nextMs > untilMs) break
      instants.push(nextMs)
      cursorMs = nextMs
    }
    return instants
  }

  /** The first problem with the spec, or null when it is valid. Checks kind fields, zone, timing, bounds. */
  static validate(this: void, spec: ScheduleSpec): ScheduleViolation | null {
    return validateSchedule(spec)
  }
}
