/**
 * Commands and definition changes that win over a coming fire, and bad input that is dead-lettered while the
 * partition keeps working.
 */
import { describe, expect, it } from 'vitest'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import type { TaskResult } from '../../schemas/task-result.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { SchedulerHarness, countBy, definition, minute, second, startMs, topics } from './scheduler-harness.ts'

const atOneMinute = { kind: 'ONE_SHOT' as const, atMs: startMs + minute }
const everyMinute = { kind: 'CRON' as const, cron: '0 * * * * *' }

describe('changes committed before a fire instant win over that fire', () => {
  it('a pause stops the fires; a resume records the paused slots PAUSED and fires the next one', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('p', everyMinute))
    await h.command('p', 'PAUSE')
    await h.step(3 * minute, second)
    await h.command('p', 'RESUME')
    await h.step(minute, second)
    expect((await h.executions()).map((e) => e.scheduledForMs - startMs)).toEqual([0, 4 * minute])
    expect(countBy(await h.occurrences(), (o) => o.outcome)).toEqual({ FIRED: 2, PAUSED: 3 })
  })

  it('cancelling the next slot before its instant means it never fires', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('c', atOneMinute))
    await h.advance(minute - 1)
    await h.command('c', 'CANCEL_EXECUTION', `c:${startMs + minute}`)
    await h.advance(hour())
    expect(await h.executions()).toEqual([])
    expect((await h.occurrences()).map((o) => o.outcome)).toEqual(['CANCELLED'])
  })

  it('cancelling an in-flight execution removes its timers and ignores its later results', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('ci', atOneMinute, { timeoutMs: 10 * second, overlapPolicy: 'SKIP' }))
    await h.advance(minute)
    const [execution] = await h.executions()
    await h.command('ci', 'CANCEL_EXECUTION', execution!.executionId)
    await h.result(execution!, 'FAILED')
    await h.advance(hour())
    expect(await h.schedulerResults()).toEqual([])
    expect((await h.occurrences()).map((o) => o.outcome)).toEqual(['FIRED', 'CANCELLED'])
  })

  it('an update recomputes the next slot from the last one with the new schedule and keeps the run count', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('u', { kind: 'INTERVAL', everyMs: minute, maxRuns: 3 }))
    await h.advance(30 * second)
    await h.define(definition('u', { kind: 'INTERVAL', everyMs: 10 * second, maxRuns: 3 }, { version: 2 }))
    await h.step(minute, second)
    const fired = await h.executions()
    // The new schedule's slots after the last handled one (0) are 10 s, 20 s, ...: within maxLateness, so they
    // fire at the update (30 s); maxRuns 3 counts the run before the update.
    expect(fired.map((e) => [e.scheduledForMs - startMs, e.firedAtMs - startMs, e.definitionVersion])).toEqual([
      [0, 0, 1],
      [10_000, 30_000, 2],
      [20_000, 30_000, 2],
    ])
  })

  it('a tombstone deletes the task and all its timers', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('x', atOneMinute))
    await h.advance(minute - 1)
    await h.remove('x')
    await h.advance(hour())
    expect(await h.executions()).toEqual([])
    expect(h.driver.store('tasks').get('x')).toBeUndefined()
    expect(await h.driver.store('timers').range({})).toEqual([])
  })

  it('TRIGGER_NOW fires at once as MANUAL, whatever the overlap policy, with the id <taskId>:manual:<commandId>', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('m', { kind: 'INTERVAL', everyMs: minute }, { overlapPolicy: 'SKIP' }))
    await h.advance(10 * second)
    await h.command('m', 'TRIGGER_NOW')
    await h.command('m', 'TRIGGER_NOW') // same millisecond, another command: another manual run
    await h.advance(minute)
    const fired = await h.executions()
    expect(fired.map((e) => [e.trigger, e.executionId, e.scheduledForMs - startMs])).toEqual([
      ['SCHEDULE', `m:${startMs}`, 0],
      ['MANUAL', 'm:manual:cmd-1', 10 * second],
      ['MANUAL', 'm:manual:cmd-2', 10 * second],
    ])
    expect((await h.occurrences()).map((o) => o.outcome)).toEqual(['FIRED', 'FIRED', 'FIRED', 'SKIPPED'])
  })

  it('a TRIGGER_NOW handled at the exact millisecond of a slot does not take its id; the slot still fires', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('s', everyMinute))
    await h.advance(minute - 1)
    h.driver.clock.advance(1) // the slot is due now; the command is processed first in the cycle
    await h.command('s', 'TRIGGER_NOW')
    const fired = await h.executions()
    expect(fired.map((e) => [e.trigger, e.executionId, e.scheduledForMs - startMs])).toEqual([
      ['SCHEDULE', `s:${startMs}`, 0],
      ['MANUAL', 's:manual:cmd-1', minute],
      ['SCHEDULE', `s:${startMs + minute}`, minute],
    ])
    expect((await h.occurrences()).map((o) => [o.outcome, o.executionId])).toEqual([
      ['FIRED', `s:${startMs}`],
      ['FIRED', 's:manual:cmd-1'],
      ['FIRED', `s:${startMs + minute}`],
    ])
  })

  it('the same TRIGGER_NOW command delivered twice runs once', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('d', { kind: 'INTERVAL', everyMs: hour() }, { timeoutMs: second }))
    const command = {
      commandId: 'once',
      taskId: 'd',
      kind: 'TRIGGER_NOW' as const,
      executionId: null,
      requestedAtMs: h.nowMs(),
      requestedBy: 'test',
    }
    await h.driver.pipeInput(topics.commands, 'd', command) // in flight: the second delivery finds it there
    await h.driver.pipeInput(topics.commands, 'd', command)
    await h.advance(2 * second) // timed out and ended: a third delivery finds it among the ended ones
    await h.driver.pipeInput(topics.commands, 'd', command)
    expect((await h.executions()).map((e) => [e.trigger, e.executionId])).toEqual([
      ['SCHEDULE', `d:${startMs}`],
      ['MANUAL', 'd:manual:once'],
    ])
    const manual = (await h.occurrences()).filter((o) => o.executionId === 'd:manual:once')
    expect(manual.map((o) => [o.outcome, o.reason])).toEqual([
      ['FIRED', 'manual: test'],
      ['SKIPPED', 'duplicate: this execution is already in flight'],
      ['DEAD', expect.stringMatching(/retries exhausted/)],
      ['SKIPPED', 'duplicate: command once already ran'],
    ])
  })

  it('RETRY_EXECUTION starts another attempt of a dead execution', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('re', { kind: 'ONE_SHOT', atMs: startMs }))
    const [execution] = await h.executions()
    await h.result(execution!, 'FAILED')
    await h.command('re', 'RETRY_EXECUTION', execution!.executionId)
    expect((await h.executions()).map((e) => [e.executionId, e.attempt, e.trigger])).toEqual([
      [execution!.executionId, 2, 'RETRY'],
    ])
  })
})

function hour(): number {
  return 60 * minute
}

describe('bad input is dead-lettered with a reason and the partition keeps working', () => {
  const bad = [
    [
      'a bad cron',
      definition('bad-cron', { kind: 'CRON', cron: '61 * * * * *' }),
      'INVALID_DEFINITION',
      /^schedule\.cron: /,
    ],
    [
      'a bad zone',
      definition('bad-zone', { kind: 'CRON', cron: '0 * * * * *', timezone: 'Mars/Base' }),
      'INVALID_DEFINITION',
      /^schedule\.timezone: /,
    ],
    [
      'an unknown category',
      definition('bad-cat', atOneMinute, { category: 'fax' }),
      'INVALID_DEFINITION',
      /^category: /,
    ],
    [
      'an oversized payload',
      definition('big', atOneMinute, { payload: JSON.stringify('x'.repeat(300_000)) }),
      'OVERSIZED',
      /^payload: /,
    ],
    [
      'a payload that is not JSON',
      definition('nojson', atOneMinute, { payload: '{oops' }),
      'INVALID_DEFINITION',
      /^payload: /,
    ],
  ] as const
  for (const [what, value, reason, message] of bad) {
    it(`dead-letters a definition with ${what} as ${reason}`, async () => {
      const h = await SchedulerHarness.create()
      await h.define(value)
      const [dead, ...rest] = await h.deadLetters()
      expect(rest).toEqual([])
      expect(dead).toMatchObject({ reasonCode: reason, sourceTopic: topics.definitions, sourceOffset: 0 })
      expect(dead!.message).toMatch(message)
      expect(dead!.originalValue).toEqual(h.driver.topic(topics.definitions)[0]!.value)
      await h.define(definition('good', atOneMinute))
      await h.advance(minute)
      expect(await h.executions()).toHaveLength(1)
    })
  }

  it('dead-letters a definition on the wrong partition as WRONG_PARTITION', async () => {
    const h = await SchedulerHarness.create({ partitions: 4 })
    const owner = partitionForKey('task-w', 4)
    await h.define(definition('task-w', atOneMinute), { partition: (owner + 1) % 4 })
    const [dead] = await h.deadLetters()
    expect(dead).toMatchObject({ reasonCode: 'WRONG_PARTITION', sourcePartition: (owner + 1) % 4 })
    expect(dead!.message).toMatch(/^taskId: .*belongs to partition/)
  })

  it('dead-letters a command on the wrong partition as WRONG_PARTITION, not as a command for no task', async () => {
    const h = await SchedulerHarness.create({ partitions: 4 })
    const owner = partitionForKey('task-c', 4)
    const wrong = (owner + 1) % 4
    await h.define(definition('task-c', atOneMinute))
    const pause = {
      commandId: 'p',
      taskId: 'task-c',
      kind: 'PAUSE' as const,
      executionId: null,
      requestedAtMs: 0,
      requestedBy: null,
    }
    await h.driver.pipeInput(topics.commands, 'task-c', pause, { partition: wrong })
    const [dead, ...rest] = await h.deadLetters()
    expect(rest).toEqual([])
    expect(dead).toMatchObject({ reasonCode: 'WRONG_PARTITION', sourceTopic: topics.commands, sourcePartition: wrong })
    expect(dead!.message).toMatch(
      new RegExp(`^taskId: key "task-c" belongs to partition ${owner} of 4 .* partition ${wrong}$`),
    )
    await h.advance(minute)
    expect(await h.executions()).toHaveLength(1) // the task on its own partition was not paused
  })

  it('dead-letters a result on the wrong partition as WRONG_PARTITION instead of ignoring it as unknown', async () => {
    const h = await SchedulerHarness.create({ partitions: 4 })
    const wrong = (partitionForKey('task-r', 4) + 1) % 4
    await h.define(definition('task-r', atOneMinute))
    await h.advance(minute)
    const [execution] = await h.executions()
    const result = { ...succeeded(execution!), taskId: 'task-r' }
    await h.driver.pipeInput(topics.results, 'task-r', result, { partition: wrong })
    const [dead, ...rest] = await h.deadLetters()
    expect(rest).toEqual([])
    expect(dead).toMatchObject({ reasonCode: 'WRONG_PARTITION', sourceTopic: topics.results, sourcePartition: wrong })
  })

  it('dead-letters keyless and tombstone commands and results as INVALID_COMMAND / INVALID_RESULT', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('t', atOneMinute))
    await h.advance(minute)
    const [execution] = await h.executions()
    const pause = {
      commandId: 'p',
      taskId: 't',
      kind: 'PAUSE' as const,
      executionId: null,
      requestedAtMs: 0,
      requestedBy: null,
    }
    await h.driver.pipeInput(topics.commands, null, pause)
    await h.driver.pipeInput(topics.commands, 't', null)
    await h.driver.pipeInput(topics.results, null, succeeded(execution!))
    await h.driver.pipeInput(topics.results, 't', null)
    const dead = await h.deadLetters()
    expect(dead.map((d) => [d.sourceTopic, d.reasonCode, d.message.split(':')[0]])).toEqual([
      [topics.commands, 'INVALID_COMMAND', 'taskId'],
      [topics.commands, 'INVALID_COMMAND', 'value'],
      [topics.results, 'INVALID_RESULT', 'taskId'],
      [topics.results, 'INVALID_RESULT', 'value'],
    ])
  })

  it('dead-letters a one-shot before its createdAtMs as INVALID_DEFINITION naming schedule.atMs (it would never fire)', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('late', { kind: 'ONE_SHOT', atMs: startMs - minute }))
    const [dead] = await h.deadLetters()
    expect(dead).toMatchObject({ reasonCode: 'INVALID_DEFINITION', sourceTopic: topics.definitions })
    expect(dead!.message).toMatch(/^schedule\.atMs: is 60000 ms before createdAtMs/)
  })

  it('dead-letters undecodable bytes as UNDECODABLE', async () => {
    const h = await SchedulerHarness.create()
    await h.driver.pipeRaw(topics.definitions, Buffer.from('k'), Buffer.from('not avro at all'))
    expect((await h.deadLetters()).map((d) => d.reasonCode)).toEqual(['UNDECODABLE'])
  })

  it('dead-letters a TRIGGER_NOW without a commandId as INVALID_COMMAND, naming the field', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('e', atOneMinute))
    const command = {
      commandId: '',
      taskId: 'e',
      kind: 'TRIGGER_NOW' as const,
      executionId: null,
      requestedAtMs: 0,
      requestedBy: null,
    }
    await h.driver.pipeInput(topics.commands, 'e', command)
    const [dead] = await h.deadLetters()
    expect(dead).toMatchObject({ reasonCode: 'INVALID_COMMAND', sourceTopic: topics.commands })
    expect(dead!.message).toMatch(/^commandId: /)
    expect(await h.executions()).toEqual([])
  })

  it('dead-letters commands for unknown tasks and of unknown kinds as INVALID_COMMAND', async () => {
    const h = await SchedulerHarness.create()
    await h.command('ghost', 'PAUSE')
    await h.define(definition('k', atOneMinute))
    await h.command('k', 'UNKNOWN')
    expect((await h.deadLetters()).map((d) => [d.reasonCode, d.sourceTopic])).toEqual([
      ['INVALID_COMMAND', topics.commands],
      ['INVALID_COMMAND', topics.commands],
    ])
    await h.advance(minute)
    expect(await h.executions()).toHaveLength(1)
  })
})

function succeeded(execution: Pick<TaskExecution, 'executionId' | 'taskId' | 'attempt'>): TaskResult {
  const { executionId, taskId, attempt } = execution
  return {
    executionId,
    taskId,
    attempt,
    status: 'SUCCEEDED',
    workerId: 'w',
    startedAtMs: 0,
    finishedAtMs: 0,
    durationMs: 0,
    output: null,
    error: null,
  }
}
