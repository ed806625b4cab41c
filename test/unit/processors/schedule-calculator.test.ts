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

  it('fires a periodic pattern on both passes of the fall-back repeat, each pass at its own instant', () => {
    const halfHourly = cron('0 0,30 * * * *', zone)
    const instants = enumerate(halfHourly, at('2026-11-01T04:30:00Z'), at('2026-11-01T08:00:00Z'))
    expect(instants.map(iso)).toEqual([
      '2026-11-01T04:30:00.000Z', // 00:30 EDT
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T06:00:00.000Z', // 01:00 EST, the repeat
      '2026-11-01T06:30:00.000Z', // 01:30 EST
      '2026-11-01T07:00:00.000Z', // 02:00 EST
      '2026-11-01T07:30:00.000Z',
    ])
  })

  it('from inside the EST repeat, a fixed time waits for the next day and a periodic pattern fires in the repeat', () => {
    const afterMs = at('2026-11-01T06:15:00Z') // 01:15 EST, the second pass
    expect(iso(occurrenceAfter(cron('0 30 1 * * *', zone), 0, afterMs))).toBe('2026-11-02T06:30:00.000Z')
    expect(iso(occurrenceAfter(cron('0 0,30 * * * *', zone), 0, afterMs))).toBe('2026-11-01T06:30:00.000Z')
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

  it('fires every second across fall-back in real time: the repeated hour fires on both passes', () => {
    // From 00:55:00 EDT to 02:05:00 EST (exclusive): 70 minutes of wall time, 130 minutes of real time.
    const fromMs = at('2026-11-01T04:55:00Z')
    const untilMs = at('2026-11-01T07:05:00Z')
    const instants = enumerate(cron('* * * * * *', zone), fromMs, untilMs)
    expect(instants).toHaveLength(130 * 60)
    expect(instants.every((ms, i) => ms === fromMs + i * second)).toBe(true)
    const walls = instants.map((ms) => wall(zone, ms))
    expect(walls.filter((w) => w === '2026-11-01 01:30:00')).toHaveLength(2)
    expect(iso(instants[walls.indexOf('2026-11-01 01:59:59')]!)).toBe('2026-11-01T05:59:59.000Z')
    expect(iso(instants[walls.lastIndexOf('2026-11-01 01:00:00')]!)).toBe('2026-11-01T06:00:00.000Z')
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

  it('fires a periodic pattern on both passes of the fall-back repeat, in CEST and then in CET', () => {
    const halfHourly = cron('0 0,30 * * * *', zone)
    const instants = enumerate(halfHourly, at('2026-10-24T23:30:00Z'), at('2026-10-25T02:30:00Z'))
    expect(instants.map((ms) => `${iso(ms)} ${wall(zone, ms)}`)).toEqual([
      '2026-10-24T23:30:00.000Z 2026-10-25 01:30:00',
      '2026-10-25T00:00:00.000Z 2026-10-25 02:00:00',
      '2026-10-25T00:30:00.000Z 2026-10-25 02:30:00',
      '2026-10-25T01:00:00.000Z 2026-10-25 02:00:00',
      '2026-10-25T01:30:00.000Z 2026-10-25 02:30:00',
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

  it('fires every second across fall-back in real time: 02:00:00–02:59:59 in CEST, then again in CET', () => {
    // From 01:55:00 CEST to 03:05:00 CET (exclusive): 70 minutes of wall time, 130 minutes of real time.
    const fromMs = at('2026-10-24T23:55:00Z')
    const instants = enumerate(cron('* * * * * *', zone), fromMs, at('2026-10-25T02:05:00Z'))
    expect(instants).toHaveLength(130 * 60)
    expect(instants.every((ms, i) => ms === fromMs + i * second)).toBe(true)
    const repeatedHour = instants.filter((ms) => wall(zone, ms).startsWith('2026-10-25 02:'))
    expect(repeatedHour).toHaveLength(2 * 3600)
    expect(repeatedHour.every((ms) => ms >= at('2026-10-25T00:00:00Z') && ms < at('2026-10-25T02:00:00Z'))).toBe(true)
  })

  describe('when afterMs lies in the CET repeat', () => {
    afterEach(() => {
      vi.restoreAllMocks()
    })

    it('with FIRST_PASS_ONLY resumes at 03:00:00 CET with one croner call, not a walk over 3600 seconds', () => {
      const nextRun = vi.spyOn(Cron.prototype, 'nextRun')
      const firstPassOnly = cron('* * * * * *', zone, { fallBackRepeat: 'FIRST_PASS_ONLY' })
      const nextMs = occurrenceAfter(firstPassOnly, 0, at('2026-10-25T01:00:00.250Z'))
      expect(iso(nextMs)).toBe('2026-10-25T02:00:00.000Z')
      expect(nextRun).toHaveBeenCalledTimes(1)
    })

    it('by default fires the next repeated second, with one croner call', () => {
      const nextRun = vi.spyOn(Cron.prototype, 'nextRun')
      const nextMs = occurrenceAfter(cron('* * * * * *', zone), 0, at('2026-10-25T01:00:00.250Z'))
      expect(iso(nextMs)).toBe('2026-10-25T01:00:01.000Z')
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

  it('follows real time across a 30-minute fall-back (Australia/Lord_Howe): every 10 minutes, 01:30–01:50 twice', () => {
    const zone = 'Australia/Lord_Howe'
    const fromMs = at('2026-04-04T13:00:00Z')
    const instants = enumerate(cron('0 */10 * * * *', zone), fromMs, at('2026-04-04T17:00:00Z'))
    expect(instants).toHaveLength(24)
    expect(instants.every((ms, i) => ms === fromMs + i * 10 * minute)).toBe(true)
    const walls = instants.map((ms) => wall(zone, ms).slice(11))
    expect(walls.slice(walls.indexOf('01:20:00'), walls.indexOf('02:00:00') + 1)).toEqual([
      '01:20:00',
      '01:30:00',
      '01:40:00',
      '01:50:00',
      '01:30:00', // 02:00 LHDT fell back to 01:30 LHST
      '01:40:00',
      '01:50:00',
      '02:00:00',
    ])
  })

  it('fires a fixed time once across a 30-minute fall-back (Australia/Lord_Howe), on its first pass', () => {
    const zone = 'Australia/Lord_Howe'
    const instants = enumerate(cron('0 45 1 * * *', zone), at('2026-04-04T00:00:00Z'), at('2026-04-06T00:00:00Z'))
    expect(instants.map((ms) => `${iso(ms)} ${wall(zone, ms)}`)).toEqual([
      '2026-04-04T14:45:00.000Z 2026-04-05 01:45:00', // +11:00, the first pass
      '2026-04-05T15:15:00.000Z 2026-04-06 01:45:00', // +10:30
    ])
  })

  it('waits 90 minutes for an hourly slot where the 30-minute repeat holds none (Australia/Lord_Howe)', () => {
    const zone = 'Australia/Lord_Howe'
    const instants = enumerate(cron('0 0 * * * *', zone), at('2026-04-04T13:30:00Z'), at('2026-04-04T17:30:00Z'))
    expect(instants.map((ms) => wall(zone, ms).slice(11))).toEqual(['01:00:00', '02:00:00', '03:00:00'])
    expect(instants[1]! - instants[0]!).toBe(90 * minute)
  })

  it('fires hourly slots in both passes of the midnight fall-back (America/Santiago), and midnight once', () => {
    const zone = 'America/Santiago' // 2026-04-05 00:00 -03 → 2026-04-04 23:00 -04: 23:00–24:00 repeats
    const hourly = enumerate(cron('0 0 * * * *', zone), at('2026-04-05T01:00:00Z'), at('2026-04-05T05:00:00Z'))
    expect(hourly.map((ms) => `${iso(ms)} ${wall(zone, ms)}`)).toEqual([
      '2026-04-05T01:00:00.000Z 2026-04-04 22:00:00',
      '2026-04-05T02:00:00.000Z 2026-04-04 23:00:00',
      '2026-04-05T03:00:00.000Z 2026-04-04 23:00:00',
      '2026-04-05T04:00:00.000Z 2026-04-05 00:00:00',
    ])
    const elevenPm = enumerate(cron('0 0 23 * * *', zone), at('2026-04-04T12:00:00Z'), at('2026-04-06T12:00:00Z'))
    expect(elevenPm.map(iso)).toEqual(['2026-04-05T02:00:00.000Z', '2026-04-06T03:00:00.000Z'])
    const midnight = enumerate(cron('0 0 0 * * *', zone), at('2026-04-04T12:00:00Z'), at('2026-04-06T12:00:00Z'))
    expect(midnight.map(iso)).toEqual(['2026-04-05T04:00:00.000Z', '2026-04-06T04:00:00.000Z'])
  })
})

/** The largest distance between consecutive instants. */
function largestGap(instants: readonly number[]): number {
  return instants.slice(1).reduce((largest, ms, i) => Math.max(largest, ms - instants[i]!), 0)
}

describe('ScheduleCalculator: the fall-back rule by pattern (issue 8)', () => {
  const berlinFallBack = [at('2026-10-24T23:30:00Z'), at('2026-10-25T02:30:00Z')] as const

  it('fires every minute in Berlin 180 times in the three real hours around fall-back, never more than 60 s apart', () => {
    const instants = occurrencesBetween(cron('0 * * * * *', 'Europe/Berlin'), 0, ...berlinFallBack, 1000)
    expect(instants).toHaveLength(180)
    expect(largestGap(instants)).toBe(minute)
  })

  it('fires hourly in Berlin at 02:00 CEST and again at 02:00 CET', () => {
    const instants = occurrencesBetween(cron('0 0 * * * *', 'Europe/Berlin'), 0, ...berlinFallBack, 1000)
    expect(instants.map((ms) => `${iso(ms)} ${wall('Europe/Berlin', ms)}`)).toEqual([
      '2026-10-25T00:00:00.000Z 2026-10-25 02:00:00', // CEST
      '2026-10-25T01:00:00.000Z 2026-10-25 02:00:00', // CET
      '2026-10-25T02:00:00.000Z 2026-10-25 03:00:00',
    ])
  })

  it('fires every 5 minutes in New York on 2026-11-01 with no gap over 5 minutes (it was 65)', () => {
    const day = occurrencesBetween(
      cron('0 */5 * * * *', 'America/New_York'),
      0,
      at('2026-11-01T00:00:00Z'),
      at('2026-11-02T00:00:00Z'),
      1000,
    )
    expect(day).toHaveLength(24 * 12)
    expect(largestGap(day)).toBe(5 * minute)
  })

  it('classifies by the second, minute and hour fields: single values are fixed-time, anything else periodic', () => {
    const passes = (pattern: string) =>
      occurrencesBetween(cron(pattern, 'Europe/Berlin'), 0, at('2026-10-24T12:00:00Z'), at('2026-10-25T12:00:00Z'), 10)
    expect(passes('0 30 2 * * *')).toHaveLength(1) // fixed
    expect(passes('30 2 * * *')).toHaveLength(1) // 5 fields: second 0, fixed
    expect(passes('0 30 2,14 * * *').map(iso)).toEqual([
      '2026-10-24T12:30:00.000Z', // 14:30 CEST on the day before
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:30:00.000Z', // 02:30 CET: a list in the hour field is periodic
    ])
    expect(passes('0 30 2-3 * * *')).toHaveLength(3) // a range: 02:30 CEST, 02:30 CET, 03:30 CET
    expect(passes('*/30 30 2 * * *')).toHaveLength(4) // a step in the seconds: :00 and :30, both passes
  })

  it('honours fallBackRepeat: FIRST_PASS_ONLY keeps a periodic pattern to the first pass, BOTH_PASSES repeats a fixed time', () => {
    const hourlyFirstOnly = cron('0 0 * * * *', 'Europe/Berlin', { fallBackRepeat: 'FIRST_PASS_ONLY' })
    expect(occurrencesBetween(hourlyFirstOnly, 0, ...berlinFallBack, 10).map(iso)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
    ])
    const fixedBoth = cron('0 30 2 * * *', 'Europe/Berlin', { fallBackRepeat: 'BOTH_PASSES' })
    expect(occurrencesBetween(fixedBoth, 0, ...berlinFallBack, 10).map(iso)).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:30:00.000Z',
    ])
  })

  it('keeps the spring-forward rule for both kinds and both overrides: gap slots fire once at the jump', () => {
    for (const fallBackRepeat of ['BY_PATTERN', 'FIRST_PASS_ONLY', 'BOTH_PASSES'] as const) {
      const fixed = cron('0 30 2 * * *', 'Europe/Berlin', { fallBackRepeat })
      const quarterly = cron('0 */15 2 * * *', 'Europe/Berlin', { fallBackRepeat })
      for (const schedule of [fixed, quarterly]) {
        const day = occurrencesBetween(schedule, 0, at('2026-03-28T23:00:00Z'), at('2026-03-29T22:00:00Z'), 10)
        expect(day.map(iso)).toEqual(['2026-03-29T01:00:00.000Z'])
      }
    }
  })
})

/**
 * Every offset change of 2026 in a zone, found hour by hour and then to the second: [instant, shift in ms], the
 * shift negative for a fall-back.
 */
function transitionsOf2026(zone: string): [number, number][] {
  const offset = (ms: number) => Date.parse(`${wall(zone, ms).replace(' ', 'T')}Z`) - ms
  const found: [number, number][] = []
  for (let ms = Date.UTC(2026, 0, 1); ms < Date.UTC(2027, 0, 1); ms += hour) {
    const before = offset(ms)
    if (offset(ms + hour) === before) continue
    let low = ms
    let high = ms + hour
    while (high - low > second) {
      const middle = low + Math.floor((high - low) / 2 / second) * second
      if (offset(middle) === before) low = middle
      else high = middle
    }
    found.push([high, offset(high) - before])
  }
  return found
}

describe('ScheduleCalculator: property over every 2026 transition of a dozen zones', () => {
  const zones = [
    'Europe/Berlin',
    'America/New_York',
    'America/Los_Angeles',
    'America/Havana', // changes at midnight
    'America/St_Johns', // UTC−03:30
    'America/Santiago', // changes at midnight
    'Africa/Cairo', // changes at midnight
    'Australia/Sydney',
    'Australia/Lord_Howe', // 30-minute shift
    'Pacific/Auckland',
    'Pacific/Chatham', // UTC+12:45, changes at 02:45
    'Antarctica/Troll', // 2-hour shift
  ]
  const transitions = zones.map((zone) => ({ zone, transitions: transitionsOf2026(zone) }))
  const periodic = ['* * * * * *', '0 * * * * *', '0 */5 * * * *', '0 15,45 * * * *', '0 0 * * * *', '0 0 */2 * * *']
  const fixed = ['0 30 2 * * *', '0 0 0 * * *', '0 30 1 * * *', '0 0 23 * * *', '0 45 2 * * *', '15 30 3 * * *']

  it('finds two transitions a year in every zone', () => {
    for (const { zone, transitions: found } of transitions) expect(found, zone).toHaveLength(2)
  })

  it('a periodic pattern never waits longer than on a UTC clock where the shift maps it onto itself, else at most the repeat longer', () => {
    const exceptions: string[] = []
    for (const pattern of periodic) {
      const fast = pattern.startsWith('*')
      const utcFromMs = at('2026-01-05T00:00:00Z')
      const dayOfUtc = occurrencesBetween(cron(pattern), 0, utcFromMs - 1, utcFromMs + (fast ? 3 : 26) * hour, 1e6)
      const utcGap = largestGap(dayOfUtc)
      const sameAfterShift = (shiftMs: number) => {
        const shifted = new Set(dayOfUtc.map((ms) => ms + shiftMs))
        return dayOfUtc.every(
          (ms) => ms < dayOfUtc[0]! + Math.abs(shiftMs) || shifted.has(ms) || ms > dayOfUtc.at(-1)! - Math.abs(shiftMs),
        )
      }
      const marginMs = fast ? 2 * minute : pattern.startsWith('0 0 ') ? 6 * hour : hour
      for (const { zone, transitions: found } of transitions) {
        // Every second behaves as every minute does, 60 times as often: two unusual zones suffice.
        if (fast && !['Australia/Lord_Howe', 'Pacific/Chatham'].includes(zone)) continue
        for (const [atMs, shiftMs] of found) {
          const fromMs = atMs - Math.abs(shiftMs) - marginMs
          const instants = occurrencesBetween(cron(pattern, zone), 0, fromMs, atMs + Math.abs(shiftMs) + marginMs, 1e6)
          const gap = largestGap(instants)
          if (shiftMs < 0 && !sameAfterShift(-shiftMs)) {
            expect(gap, `${pattern} in ${zone} at ${iso(atMs)}`).toBeLessThanOrEqual(utcGap - shiftMs)
            if (gap > utcGap) exceptions.push(`${pattern} in ${zone}: ${gap / minute} min`)
          } else {
            expect(gap, `${pattern} in ${zone} at ${iso(atMs)}`).toBeLessThanOrEqual(utcGap)
          }
        }
      }
    }
    // Where the repeated stretch is shifted against the pattern, waiting longer is unavoidable on a wall clock.
    expect(exceptions).toEqual([
      '0 0 * * * * in Australia/Lord_Howe: 90 min',
      '0 0 */2 * * * in America/New_York: 180 min',
      '0 0 */2 * * * in America/Los_Angeles: 180 min',
      '0 0 */2 * * * in America/St_Johns: 180 min',
      '0 0 */2 * * * in America/Santiago: 180 min',
      '0 0 */2 * * * in Africa/Cairo: 180 min',
      '0 0 */2 * * * in Australia/Lord_Howe: 150 min',
      '0 0 */2 * * * in Pacific/Chatham: 180 min',
    ])
  })

  it('a fixed-time slot fires exactly once on every local date around every transition', () => {
    for (const pattern of fixed) {
      for (const { zone, transitions: found } of transitions) {
        for (const [atMs] of found) {
          const instants = occurrencesBetween(cron(pattern, zone), 0, atMs - 3 * 86_400_000, atMs + 3 * 86_400_000, 100)
          const dates = instants.map((ms) => wall(zone, ms).slice(0, 10))
          const context = `${pattern} in ${zone} at ${iso(atMs)}: ${dates.join(', ')}`
          expect(new Set(dates).size, context).toBe(dates.length)
          const days = dates.map((date) => Date.parse(`${date}T00:00:00Z`) / 86_400_000)
          expect(
            days.every((day, i) => i === 0 || day === days[i - 1]! + 1),
            context,
          ).toBe(true)
          expect(dates.length, context).toBeGreaterThanOrEqual(5)
        }
      }
    }
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
    [
      'an unknown fallBackRepeat',
      { cron: '* * * * *', fallBackRepeat: 'TWICE' as ScheduleSpec['fallBackRepeat'] },
      'schedule.fallBackRepeat',
      /must be one of BY_PATTERN, FIRST_PASS_ONLY, BOTH_PASSES, got TWICE/,
    ],
    [
      'a fallBackRepeat on an INTERVAL schedule',
      { kind: 'INTERVAL', everyMs: 1000, fallBackRepeat: 'BOTH_PASSES' },
      'schedule.fallBackRepeat',
      /applies only to CRON/,
    ],
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
