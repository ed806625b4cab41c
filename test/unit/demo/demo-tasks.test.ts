/**
 * `npm run demo`'s example tasks (demo/worker-demo.ts) against its own local services: every schedule kind and
 * every local built-in category is there, each definition but the deliberately invalid one passes the scheduler's
 * validator, and each task's payload, run by the real handlers against the demo's echo endpoint, Kubernetes API
 * stand-in and SMTP sink, ends as the demo promises (succeeds, fails twice then succeeds, or fails for DEAD).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultCategories } from '../../../config.ts'
import { startDemoServices, demoDefinitions, type DemoServices } from '../../../demo/worker-demo.ts'
import { findDefinitionProblem } from '../../../processors/definition-validator.ts'
import type { TaskDefinition } from '../../../schemas/task-definition.ts'
import { type BuiltinHandlers, builtinHandlers } from '../../../workers/builtins/builtin-handlers.ts'
import { execution, runHandler } from '../workers/run-handler.ts'

let services: DemoServices
let builtins: BuiltinHandlers
let definitions: TaskDefinition[]

beforeAll(async () => {
  services = await startDemoServices()
  builtins = builtinHandlers({ allow: ['loopback'] })
  for (const h of builtins.handlers) services.handlers.register(h)
  definitions = demoDefinitions(Date.now(), services)
})

afterAll(async () => {
  await builtins?.close()
  await services?.close()
})

async function run(taskId: string, attempt = 1): Promise<{ status: string; error: string | null; output: string }> {
  const d = definitions.find((t) => t.taskId === taskId)!
  const { result } = await runHandler(
    services.handlers.get(d.category, d.type),
    execution(d.category, d.type, JSON.parse(d.payload ?? 'null'), { taskId, executionId: `${taskId}:1`, attempt }),
  )
  return { status: result.status, error: result.error?.code ?? null, output: result.output ?? '' }
}

describe("the demo's example tasks", () => {
  it('cover every schedule kind and every local category, and only the invalid one is refused', () => {
    expect(new Set(definitions.map((d) => d.schedule.kind))).toEqual(new Set(['CRON', 'INTERVAL', 'ONE_SHOT', 'DELAY']))
    expect(new Set(definitions.map((d) => d.category))).toEqual(new Set(['http', 'email', 'internal', 'kubernetes']))
    const limits = { categories: defaultCategories, maxPayloadBytes: 262_144 }
    const refused = definitions
      .map((d) => ({ taskId: d.taskId, problem: findDefinitionProblem(d.taskId, d, limits) }))
      .filter((r) => r.problem !== null)
    expect(refused).toEqual([{ taskId: 'invalid-cron', problem: expect.objectContaining({ field: 'schedule.cron' }) }])
    expect(definitions.find((d) => d.taskId === 'http-check-5s')?.schedule).toMatchObject({ everyMs: 5000 })
  })

  it('run as promised against the local echo endpoint, Kubernetes API stand-in and SMTP sink', async () => {
    const mail: string[] = []
    services.onMail((line) => mail.push(line))
    expect(await run('http-check-5s')).toMatchObject({ status: 'SUCCEEDED' })
    const k8s = await run('k8s-health-10s')
    expect(k8s).toMatchObject({ status: 'SUCCEEDED' })
    expect(k8s.output).toContain('[+]etcd ok')
    expect(await run('email-once-in-7s')).toMatchObject({ status: 'SUCCEEDED' })
    expect(mail).toEqual(['smtp-sink received "flextask demo: one-shot report" for ops@demo.test'])
    expect(await run('delayed-4s')).toMatchObject({ status: 'SUCCEEDED' })
    expect(await run('ends-dead')).toMatchObject({ status: 'FAILED', error: 'FLEXTASK_HTTP_UNEXPECTED_STATUS' })
    const flaky = [await run('flaky-3-attempts', 1), await run('flaky-3-attempts', 2), await run('flaky-3-attempts', 3)]
    expect(flaky.map((r) => r.status)).toEqual(['FAILED', 'FAILED', 'SUCCEEDED'])
    expect(await run('tokyo-every-10s')).toMatchObject({ status: 'SUCCEEDED' })
  })
})
