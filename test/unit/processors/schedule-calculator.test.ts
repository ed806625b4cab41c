import { Cron } from 'croner'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ScheduleCalculator, type ScheduleSpec } from '../../../processors/schedule-calculator.ts'

import { emptySchedule } from '../../../schemas/task-definition-builder.ts'

const { occurrenceAfter, occurrencesBetween, validate } = ScheduleCalculator

function spec(overrides: Partial<ScheduleSpec>): ScheduleSpec {
  return { ...emptySchedule, kind: 'CRON', ...overrides }
}

const cron = (pattern: string, timezone = 'UTC', extra: Partial<ScheduleSpec> = {}) =>
  spec({ kind: 'CRON', cron: pattern, timezone, ...extra })
const at = (iso: string) => Date.parse(iso)
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** Every occurrence in [fromMs, untilMs), found one occurrenceAfter call at a time as the scheduler does. */
function enumerate(schedule: ScheduleSpec, fromMs: number, untilMs: number): number[] {
  const instants: number[] = []
  let cursorMs = fromMs - 1
  for (;;) {
    const nextMs = occurrenceAfter(schedule, 0, cursorMs)
    if (nextMs === null || nextMs >= untilMs) return instants
    instants.push(nextMs)
    cursorMs = nextMs
  }
}

const wallFormats = new Map<string, Intl.DateTimeFormat>()

/** The wall time an instant shows in a zone, as 'YYYY-MM-DD HH:mm:ss'. */
function wall(zone: string, instantMs: number): string {
  let format = wallFormats.get(zone)
  format ??= new Intl.DateTimeFormat('sv-SE', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  })
  wallFormats.set(zone, format)
  return format.format(instantMs)
}

const second = 1000
const minute = 60 * second
const hour = 60 * minute

describe('ScheduleCalculator: CRON', () => {
  it('fires a 6-field pattern at the next matching second', () => {
    expect(iso(occurrenceAfter(cron('15 * * * * *'), 0, at('2026-01-10T08:00:00Z')))).toBe('2026-01-10T08:00:15.000Z')
  })

  it('reads a 5-field pattern as firing at second 0', () => {
    expect(iso(occurrenceAfter(cron('*/5 * * * *'), 0, at('2026-01-10T08:01:30Z')))).toBe('2026-01-10T08:05:00.000Z')
  })

  it('returns the first slot strictly after afterMs, never afterMs itself', () => {
    const hourly = cron('0 0 * * * *')
    expect(iso(occurrenceAfter(hourly, 0, at('2026-01-10T08:00:00Z')))).toBe('2026-01-10T09:00:00.000Z')
    expect(iso(occurrenceAfter(hourly, 0, at('2026-01-10T07:59:59.999Z')))).toBe('2026-01-10T08:00:00.000Z')
  })

  it('reads the pattern on the wall clock of the schedule time zone, in winter and in summer', () => {
    const nineInBerlin = cron('0 0 9 * * *', 'Europe/Berlin')
    expect(iso(occurrenceAfter(nineInBerlin, 0, at('2026-01-10T00:00:00Z')))).toBe('2026-01-10T08:00:00.000Z')
    expect(iso(occurrenceAfter(nineInBerlin, 0, at('2026-07-10T00:00:00Z')))).toBe('2026-07-10T07:00:00.000Z')
  })

  it('supports last-day-of-month and nicknames through croner', () => {
    expect(iso(occurrenceAfter(cron('0 0 12 L * *'), 0, at('2026-02-01T00:00:00Z')))).toBe('2026-02-28T12:00:00.000Z')
    expect(iso(occurrenceAfter(cron('@daily', 'America/New_York'), 0, at('2026-01-10T12:00:00Z')))).toBe(
      '2026-01-11T05:00:00.000Z',
    )
  })

  it('gives the same instant every time it is asked the same question, so replays agree', () => {
    const schedule = cron('0 */7 * * * *', 'Europe/Berlin')
    const first = occurrencesBetween(schedule, 0, at('2026-10-24T20:00:00Z'), at('2026-10-25T06:00:00Z'), 1000)
    const again = occurrencesBetween({ ...schedule }, 0, at('2026-10-24T20:00:00Z'), at('2026-10-25T06:00:00Z'), 1000)
    expect(again).toEqual(first)
    expect(first.length).toBeGreaterThan(0)
  })
})

describe('ScheduleCalculator: INTERVAL', () => {
  const every10s = (extra: Partial<ScheduleSpec> = {}) => spec({ kind: 'INTERVAL', everyMs: 10 * second, ...extra })

  it('anchors at createdAtMs plus phaseMs when startAtMs is absent', () => {
    expect(occurrenceAfter(every10s({ phaseMs: 2500 }), 1_000_000, 0)).toBe(1_002_500)
    expect(occurrenceAfter(every10s({ phaseMs: 2500 }), 1_000_000, 1_002_500)).toBe(1_012_500)
  })

  it('anchors at startAtMs plus phaseMs when startAtMs is set', () => {
    expect(occurrenceAfter(every10s({ startAtMs: 5_000_000, phaseMs: 1 }), 1_000_000, 0)).toBe(5_000_001)
  })

  it('returns the next anchor + k × everyMs strictly after afterMs', () => {
    expect(occurrenceAfter(every10s(), 1_000_000, 1_034_999)).toBe(1_040_000)
    expect(occurrenceAfter(every10s(), 1_000_000, 1_040_000)).toBe(1_050_000)
  })

  it('ignores the time zone, so an hourly interval stays one hour apart across a DST change', () => {
    const hourly = spec({ kind: 'INTERVAL', everyMs: hour, timezone: 'Europe/Berlin' })
    const createdAtMs = at('2026-10-24T22:00:00Z')
    const instants = occurrencesBetween(hourly, createdAtMs, createdAtMs - 1, createdAtMs + 6 * hour, 100)
    expect(instants).toHaveLength(7)
    expect(instants.slice(1).map((ms, i) => ms - instants[i]!)).toEqual(Array(6).fill(hour))
  })
})

describe('ScheduleCalculator: ONE_SHOT and DELAY', () => {
  it('fires a one-shot at atMs and never again', () => {
    const oneShot = spec({ kind: 'ONE_SHOT', atMs: 5000 })
    expect(occurrenceAfter(oneShot, 0, 4999)).toBe(5000)
    expect(occurrenceAfter(oneShot, 0, 5000)).toBeNull()
  })

  it('fires a delay once at createdAtMs plus delayMs', () => {
    const delay = spec({ kind: 'DELAY', delayMs: 30 * second })
    expect(occurrenceAfter(delay, 1_000_000, 1_000_000)).toBe(1_030_000)
    expect(occurrenceAfter(delay, 1_000_000, 1_030_000)).toBeNull()
  })
})

describe('ScheduleCalculator: startAtMs and endAtMs', () => {
  it('fires nothing before startAtMs, and a slot exactly at startAtMs fires', () => {
    const minutely = cron('0 * * * * *', 'UTC', { startAtMs: at('2026-01-10T09:00:00Z') })
    expect(iso(occurrenceAfter(minutely, 0, at('2026-01-10T08:00:00Z')))).toBe('2026-01-10T09:00:00.000Z')
  })

  it('fires nothing after endAtMs, and a slot exactly at endAtMs fires', () => {
    const minutely = cron('0 * * * * *', 'UTC', { endAtMs: at('2026-01-10T09:00:00Z') })
    expect(iso(occurrenceAfter(minutely, 0, at('2026-01-10T08:59:30Z')))).toBe('2026-01-10T09:00:00.000Z')
    expect(occurrenceAfter(minutely, 0, at('2026-01-10T09:00:00Z'))).toBeNull()
  })

  it('applies the bounds to one-shots and intervals too', () => {
    expect(occurrenceAfter(spec({ kind: 'ONE_SHOT', atMs: 5000, endAtMs: 4000 }), 0, 0)).toBeNull()
    const bounded = spec({ kind: 'INTERVAL', everyMs: 1000, startAtMs: 10_000, endAtMs: 12_000 })
    expect(occurrencesBetween(bounded, 0, 0, 100_000, 100)).toEqual([10_000, 11_000, 12_000])
  })

  it('lists the instants in (afterMs, untilMs], at most limit of them', () => {
    const minutely = cron('0 * * * * *')
    const fromMs = at('2026-01-10T09:00:00Z')
    expect(occurrencesBetween(minutely, 0, fromMs, fromMs + 3 * minute, 100).map(iso)).toEqual([
      '2026-01-10T09:01:00.000Z',
      '2026-01-10T09:02:00.000Z',
      '2026-01-10T09:03:00.000Z',
    ])
    expect(occurrencesBetween(minutely, 0, fromMs, fromMs + hour, 2)).toHaveLength(2)
  })
})

describe('ScheduleCalculator: DST in America/New_York (2026-03-08 02:00 EST → 03:00 EDT, 2026-11-01 02:00 EDT → 01:00 EST)', () => {
  const zone = 'America/New_York'

  it('fires a nonexistent local time once at the first instant after the spring-forward gap', () => {
    const schedule = cron('0 30 2 * * *', zone)
    expect(enumerate(schedule, at('2026-03-07T12:00:00Z'), at('2026-03-09T12:00:00Z')).map(iso)).toEqual([
      '2026-03-08T07:00:00.000Z', // 03:00 EDT on the transition day
      '2026-03-09T06:30:00.000Z', // 02:30 EDT the day after
    ])
  })

  it('fires an every-15-minutes pattern inside the gap once at 03:00, not four times', () => {
    const schedule = cron('0 */15 2 * * *', zone)
    const day = enumerate(schedule, at('2026-03-08T05:00:00Z'), at('2026-03-09T05:00:00Z'))
    expect(day.map(iso)).toEqual(['2026-03-08T07:00:00.000Z'])
  })

  it('collapses gap slots into the real slot at the end of the gap', () => {
    const halfHourly = cron('0 0,30 * * * *', zone)
    const instants = enumerate(halfHourly, at('2026-03-08T06:00:00Z'), at('2026-03-08T08:00:00Z'))
    expect(instants.map((ms) => wall(zone, ms))).toEqual([
      '2026-03-08 01:00:00',
      '2026-03-08 01:30:00',
      '2026-03-08 03:00:00',
      '2026-03-08 03:30:00',
    ])
  })

  it('fires a fixed time in the repeated hour once, at its first (EDT) occurrence', () => {
    const schedule = cron('0 30 1 * * *', zone)
    expect(enumerate(schedule, at('2026-11-01T04:00:00Z'), at('2026-11-02T12:00:00Z')).map(iso)).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-02T06:30:00.000Z', // 01:30 EST the day after
    ])
  })

  it('fires an interval pattern once per wall time across fall-back, skipping the EST repeat', () => {
    const halfHourly = cron('0 0,30 * * * *', zone)
    const instants = enumerate(halfHourly, at('2026-11-01T04:30:00Z'), at('2026-11-01T08:00:00Z'))
    expect(instants.map(iso)).toEqual([
      '2026-11-01T04:30:00.000Z', // 00:30 EDT
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T07:00:00.000Z', // 02:00 EST: 01:00 and 01:30 EST repeat and are skipped
      '2026-11-01T07:30:00.000Z',
    ])
  })

  it('does not fire a slot of the repeated hour again when asked from inside the EST repeat', () => {
    const afterMs = at('2026-11-01T06:15:00Z') // 01:15 EST, the second pass
    expect(iso(occurrenceAfter(cron('0 30 1 * * *', zone), 0, afterMs))).toBe('2026-11-02T06:30:00.000Z')
    expect(iso(occurrenceAfter(cron('0 0,30 * * * *', zone), 0, afterMs))).toBe('2026-11-01T07:00:00.000Z')
  })

  it('fires every second across spring-forward with 01:59:59 EST followed by 03:00:00 EDT', () => {
    const instants = enumerate(cron('* * * * * *', zone), at('2026-03-08T06:55:00Z'), at('2026-03-08T07:05:00Z'))
    const walls = instants.map((ms) => wall(zone, ms))
    expect(instants).toHaveLength(600)
    expect(new Set(walls).size).toBe(600)
    const last = walls.indexOf('2026-03-08 01:59:59')
    expect(walls[last + 1]).toBe('2026-03-08 03:00:00')
    expect(instants[last + 1]! - instants[last]!).toBe(second)
  })

  it('fires every second across fall-back once per local second, nothing in the EST repeat', () => {
    // From 00:55:00 EDT to 02:05:00 EST (exclusive): 70 minutes of wall time, 130 minutes of real time.
    const fromMs = at('2026-11-01T04:55:00Z')
    const untilMs = at('2026-11-01T07:05:00Z')
    const instants = enumerate(cron('* * * * * *', zone), fromMs, untilMs)
    const walls = instants.map((ms) => wall(zone, ms))
    expect(instants).toHaveLength(70 * 60)
    expect(new Set(walls).size).toBe(70 * 60)
    expect(instants.filter((ms) => ms >= at('2026-11-01T06:00:00Z') && ms < at('2026-11-01T07:00:00Z'))).toEqual([])
    const last = walls.indexOf('2026-11-01 01:59:59')
    expect(iso(instants[last]!)).toBe('2026-11-01T05:59:59.000Z')
    expect(iso(instants[last + 1]!)).toBe('2026-11-01T07:00:00.000Z')
  })
})

describe('ScheduleCalculator: DST in Europe/Berlin (2026-03-29 02:00 CET → 03:00 CEST, 2026-10-25 03:00 CEST → 02:00 CET)', () => {
  const zone = 'Europe/Berlin'

  it('fires a nonexistent local time once at 03:00 CEST', () => {
    const schedule = cron('0 30 2 * * *', zone)
    expect(enumerate(schedule, at('2026-03-28T12:00:00Z'), at('2026-03-30T12:00:00Z')).map(iso)).toEqual([
      '2026-03-29T01:00:00.000Z', // 03:00 CEST on the transition day
      '2026-03-30T00:30:00.000Z', // 02:30 CEST the day after
    ])
  })

  it('fires an every-15-minutes pattern inside the gap once at 03:00 CEST', () => {
    const day = enumerate(cron('0 */15 2 * * *', zone), at('2026-03-28T23:00:00Z'), at('2026-03-29T22:00:00Z'))
    expect(day.map(iso)).toEqual(['2026-03-29T01:00:00.000Z'])
  })

  it('fires a fixed time in the repeated hour once, at its CEST occurrence', () => {
    const schedule = cron('0 30 2 * * *', zone)
    expect(enumerate(schedule, at('2026-10-24T12:00:00Z'), at('2026-10-26T12:00:00Z')).map(iso)).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-26T01:30:00.000Z', // 02:30 CET the day after
    ])
  })

  it('fires an interval pattern once per wall time across fall-back, skipping the CET repeat', () => {
    const halfHourly = cron('0 0,30 * * * *', zone)
    const instants = enumerate(halfHourly, at('2026-10-24T23:30:00Z'), at('2026-10-25T02:30:00Z'))
    expect(instants.map((ms) => `${iso(ms)} ${wall(zone, ms)}`)).toEqual([
      '2026-10-24T23:30:00.000Z 2026-10-25 01:30:00',
      '2026-10-25T00:00:00.000Z 2026-10-25 02:00:00',
      '2026-10-25T00:30:00.000Z 2026-10-25 02:30:00',
      '2026-10-25T02:00:00.000Z 2026-10-25 03:00:00',
    ])
  })

  it('fires every second across spring-forward with 01:59:59 CET followed by 03:00:00 CEST one second later', () => {
    const instants = enumerate(cron('* * * * * *', zone), at('2026-03-29T00:55:00Z'), at('2026-03-29T01:05:00Z'))
    const walls = instants.map((ms) => wall(zone, ms))
    expect(instants).toHaveLength(600)
    expect(new Set(walls).size).toBe(600)
    const last = walls.indexOf('2026-03-29 01:59:59')
    expect(iso(instants[last]!)).toBe('2026-03-29T00:59:59.000Z')
    expect(iso(instants[last + 1]!)).toBe('2026-03-29T01:00:00.000Z')
    expect(walls[last + 1]).toBe('2026-03-29 03:00:00')
  })

  it('fires every second across fall-back once per local second: 02:00:00–02:59:59 in CEST, none in the CET repeat', () => {
    // From 01:55:00 CEST to 03:05:00 CET (exclusive): 70 minutes of wall time, 130 minutes of real time.
    const instants = enumerate(cron('* * * * * *', zone), at('2026-10-24T23:55:00Z'), at('2026-10-25T02:05:00Z'))
    const walls = instants.map((ms) => wall(zone, ms))
    expect(instants).toHaveLength(70 * 60)
    expect(new Set(walls).size).toBe(70 * 60)
    const repeatedHour = instants.filter((ms) => wall(zone, ms).startsWith('2026-10-25 02:'))
    expect(repeatedHour).toHaveLength(3600)
    expect(repeatedHour.every((ms) => ms >= at('2026-10-25T00:00:00Z') && ms < at('2026-10-25T01:00:00Z'))).toBe(true)
    const last = walls.indexOf('2026-10-25 02:59:59')
    expect(iso(instants[last + 1]!)).toBe('2026-10-25T02:00:00.000Z') // 03:00:00 CET
  })

  describe('when afterMs lies in the CET repeat', () => {
    afterEach(() => {
      vi.restoreAllMocks()
    })

    it('resumes at 03:00:00 CET with one croner call instead of walking the 3600 repeated seconds', () => {
      const nextRun = vi.spyOn(Cron.prototype, 'nextRun')
      const nextMs = occurrenceAfter(cron('* * * * * *', zone), 0, at('2026-10-25T01:00:00.250Z'))
      expect(iso(nextMs)).toBe('2026-10-25T02:00:00.000Z')
      expect(nextRun).toHaveBeenCalledTimes(1)
    })
  })
})

describe('ScheduleCalculator: DST edge zones', () => {
  it('fires midnight at 01:00 where the spring-forward gap swallows midnight (America/Santiago)', () => {
    const midnight = cron('0 0 0 * * *', 'America/Santiago')
    expect(enumerate(midnight, at('2026-09-06T00:00:00Z'), at('2026-09-07T12:00:00Z')).map(iso)).toEqual([
      '2026-09-06T04:00:00.000Z', // 01:00 -03, the first instant after 00:00 -04 jumped to 01:00 -03
      '2026-09-07T03:00:00.000Z',
    ])
  })

  it('handles a 30-minute DST shift (Australia/Lord_Howe) with no repeated slot', () => {
    const zone = 'Australia/Lord_Howe'
    const instants = enumerate(cron('0 */10 * * * *', zone), at('2026-04-04T13:00:00Z'), at('2026-04-04T17:00:00Z'))
    const walls = instants.map((ms) => wall(zone, ms))
    expect(new Set(walls).size).toBe(walls.length)
    expect(walls).toContain('2026-04-05 01:50:00')
    expect(walls[walls.indexOf('2026-04-05 01:50:00') + 1]).toBe('2026-04-05 02:00:00')
  })
})

describe('ScheduleCalculator.validate', () => {
  it('accepts a well-formed schedule of every kind', () => {
    expect(validate(cron('0 30 9 * * 1-5', 'Europe/Berlin', { maxRuns: 3 }))).toBeNull()
    expect(validate(cron('*/5 * * * *'))).toBeNull()
    expect(validate(spec({ kind: 'INTERVAL', everyMs: 60_000, phaseMs: 59_999, startAtMs: 0, endAtMs: 1 }))).toBeNull()
    expect(validate(spec({ kind: 'ONE_SHOT', atMs: 1_800_000_000_000 }))).toBeNull()
    expect(validate(spec({ kind: 'DELAY', delayMs: 0 }))).toBeNull()
  })

  it.each<[string, Partial<ScheduleSpec>, string, RegExp]>([
    ['an unknown kind', { kind: 'WEEKLY' as ScheduleSpec['kind'] }, 'schedule.kind', /must be one of CRON/],
    ['a CRON schedule without cron', { kind: 'CRON' }, 'schedule.cron', /is required for a CRON schedule/],
    ['a CRON schedule with everyMs', { cron: '* * * * *', everyMs: 1000 }, 'schedule.everyMs', /must be null/],
    ['an INTERVAL schedule with atMs', { kind: 'INTERVAL', everyMs: 1000, atMs: 1 }, 'schedule.atMs', /null/],
    ['a ONE_SHOT schedule without atMs', { kind: 'ONE_SHOT' }, 'schedule.atMs', /required/],
    ['a DELAY schedule without delayMs', { kind: 'DELAY' }, 'schedule.delayMs', /required/],
    ['a phase on a CRON schedule', { cron: '* * * * *', phaseMs: 5 }, 'schedule.phaseMs', /only to INTERVAL/],
    ['a 7-field pattern with a year', { cron: '0 0 0 * * * 2030' }, 'schedule.cron', /year field is not supported/],
    ['a malformed pattern', { cron: '0 0 * *' }, 'schedule.cron', /not a valid cron pattern/],
    ['an out-of-range field', { cron: '60 * * * * *' }, 'schedule.cron', /Invalid value for second: 60/],
    ['a pattern that never fires (February 30)', { cron: '0 0 0 30 2 *' }, 'schedule.cron', /never fires/],
    ['an empty time zone', { cron: '* * * * *', timezone: '' }, 'schedule.timezone', /IANA time zone/],
    ['an unknown time zone', { cron: '* * * * *', timezone: 'Mars/Olympus' }, 'schedule.timezone', /not a known/],
    ['a UTC offset as zone', { cron: '* * * * *', timezone: '+01:00' }, 'schedule.timezone', /not a UTC offset/],
    ['everyMs under a second', { kind: 'INTERVAL', everyMs: 999 }, 'schedule.everyMs', /from 1000/],
    ['everyMs over 366 days', { kind: 'INTERVAL', everyMs: 367 * 86_400_000 }, 'schedule.everyMs', /366 days/],
    ['a fractional everyMs', { kind: 'INTERVAL', everyMs: 1500.5 }, 'schedule.everyMs', /integer/],
    ['phaseMs equal to everyMs', { kind: 'INTERVAL', everyMs: 1000, phaseMs: 1000 }, 'schedule.phaseMs', /< everyMs/],
    ['a negative phaseMs', { kind: 'INTERVAL', everyMs: 1000, phaseMs: -1 }, 'schedule.phaseMs', />= 0/],
    ['a negative delayMs', { kind: 'DELAY', delayMs: -5 }, 'schedule.delayMs', /non-negative/],
    [
      'endAtMs before startAtMs',
      { kind: 'DELAY', delayMs: 1, startAtMs: 10, endAtMs: 10 },
      'schedule.endAtMs',
      /after/,
    ],
    ['a one-shot outside its bounds', { kind: 'ONE_SHOT', atMs: 5, startAtMs: 10 }, 'schedule.atMs', /never fire/],
    ['maxRuns of 0', { kind: 'DELAY', delayMs: 1, maxRuns: 0 }, 'schedule.maxRuns', />= 1/],
  ])('rejects %s, naming the field', (_name, overrides, field, message) => {
    const problem = validate(spec(overrides))
    expect(problem?.field).toBe(field)
    expect(problem?.message).toMatch(message)
    expect(problem?.message.startsWith(field)).toBe(true)
  })

  it('throws a coded error when asked for an occurrence of a schedule missing its field', () => {
    expect(() => occurrenceAfter(spec({ kind: 'INTERVAL' }), 0, 0)).toThrow(
      expect.objectContaining({ code: 'FLEXTASK_SCHEDULE_INVALID', context: { field: 'schedule.everyMs' } }),
    )
  })
})
