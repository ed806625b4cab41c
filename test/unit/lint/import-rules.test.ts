/**
 * The import directions and bans of eslint.config.js, checked on small in-memory snippets with ESLint's Node API:
 * `lintText` with the path of an existing file of the folder (the type-aware parser needs a file it knows) lints
 * the snippet in place of that file's contents, under that folder's rules.
 */
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'
import { beforeAll, describe, expect, it, vi } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const eslint = new ESLint({ cwd: root })

// Type-aware linting builds the TypeScript program once (seconds on a loaded box); each snippet is then quick.
vi.setConfig({ testTimeout: 60_000 })
beforeAll(async () => {
  await eslint.lintText('export {}\n', { filePath: `${root}metrics.ts` })
}, 120_000)

/** The rule ids ESLint reports for `code` as if it were the file at `path` (relative to the repository). */
async function violations(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${path}` })
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`)
}

function ruleIds(messages: string[]): string[] {
  return messages.map((m) => m.split(':')[0] ?? '')
}

describe('lint: nothing imports cli/', () => {
  it.each(['scheduler/scheduler-topics.ts', 'host/ops-server.ts', 'test/unit/config.test.ts', 'bench/scheduler.ts'])(
    'refuses an import of cli/ from %s',
    async (path) => {
      const depth = path.split('/').length - 1
      const messages = await violations(path, `import '${'../'.repeat(depth)}cli/flextask.ts'\nexport const x = 1\n`)
      expect(messages.join('\n')).toContain('Nothing imports cli/')
    },
  )

  it('lets tests import anything else, such as the scheduler component', async () => {
    const messages = await violations(
      'test/unit/config.test.ts',
      "import { createScheduler } from '../../scheduler/scheduler.ts'\nexport const x = createScheduler\n",
    )
    expect(messages).toEqual([])
  })
})

describe('lint: metrics.ts is the only importer of prom-client', () => {
  it('refuses prom-client in a component', async () => {
    const messages = await violations(
      'scheduler/scheduler-topics.ts',
      "import { Counter } from 'prom-client'\nexport const c = Counter\n",
    )
    expect(messages.join('\n')).toContain('Only metrics.ts imports prom-client')
  })

  it('refuses prom-client in the runtime', async () => {
    const messages = await violations(
      'topology/clocks.ts',
      "import { Registry } from 'prom-client'\nexport const r = Registry\n",
    )
    expect(messages.join('\n')).toContain('Only metrics.ts imports prom-client')
  })

  it('allows it in metrics.ts', async () => {
    const messages = await violations(
      'metrics.ts',
      "import { Registry } from 'prom-client'\nexport const r = Registry\n",
    )
    expect(messages.filter((m) => m.includes('prom-client'))).toEqual([])
  })
})

describe('lint: processors/ stay pure', () => {
  it('allows the topology API, schemas, errors, siblings and croner', async () => {
    const code = [
      "import type { Clock } from '../topology/api.ts'",
      "import type { TaskDefinition } from '../schemas/task-definition.ts'",
      "import { ErrorCodes } from '../errors.ts'",
      "import { padDueMs } from './task-state.ts'",
      "import { Cron } from 'croner'",
      'export const all = [ErrorCodes, padDueMs, Cron] as const',
      'export type T = [Clock, TaskDefinition]',
      '',
    ].join('\n')
    expect(await violations('processors/jitter.ts', code)).toEqual([])
  })

  it.each([
    ["import { StreamRuntime } from '../topology/stream-runtime.ts'", 'the runtime beyond its API'],
    ["import pg from 'pg'", 'a database client'],
    ["import { readFileSync } from 'node:fs'", 'the file system'],
    ["import { resolveConfig } from '../config.ts'", 'the config'],
    ["import { createScheduler } from '../scheduler/scheduler.ts'", 'a component'],
  ])('refuses %s (%s)', async (line) => {
    const messages = await violations('processors/jitter.ts', `${line}\nexport const x = 1\n`)
    expect(ruleIds(messages)).toContain('no-restricted-imports')
  })

  it.each([
    ['setInterval(() => undefined, 10)', 'no-restricted-globals'],
    ['setImmediate(() => undefined)', 'no-restricted-globals'],
    ['queueMicrotask(() => undefined)', 'no-restricted-globals'],
    ['performance.now()', 'no-restricted-globals'],
    ['Math.random()', 'no-restricted-properties'],
    ['Date.now()', 'no-restricted-properties'],
    ['process.env.X', 'no-restricted-properties'],
    ['new Date()', 'no-restricted-syntax'],
  ])('bans %s', async (expression, rule) => {
    const messages = await violations('processors/jitter.ts', `export const x = ${expression}\n`)
    expect(ruleIds(messages)).toContain(rule)
  })

  it('allows a Date built from an instant', async () => {
    expect(await violations('processors/jitter.ts', 'export const d = new Date(0)\n')).toEqual([])
  })
})

describe('lint: schemas/, topology/, process.env and console', () => {
  it('refuses anything but errors.ts, avsc and the file system in schemas/', async () => {
    const messages = await violations(
      'schemas/task-log.ts',
      "import { Producer } from '@platformatic/kafka'\nexport const p = Producer\n",
    )
    expect(ruleIds(messages)).toContain('no-restricted-imports')
  })

  it('refuses config.ts in topology/', async () => {
    const messages = await violations(
      'topology/clocks.ts',
      "import { resolveConfig } from '../config.ts'\nexport const r = resolveConfig\n",
    )
    expect(messages.join('\n')).toContain('topology/ takes options')
  })

  it('refuses process.env outside config.ts', async () => {
    const messages = await violations('scheduler/scheduler-topics.ts', 'export const port = process.env.PORT\n')
    expect(ruleIds(messages)).toContain('no-restricted-properties')
  })

  it('refuses console in components, allows it in cli/ and test/', async () => {
    const code = "console.log('hello')\nexport const x = 1\n"
    expect(ruleIds(await violations('scheduler/scheduler-topics.ts', code))).toContain('no-console')
    expect(ruleIds(await violations('host/ops-server.ts', code))).toContain('no-console')
    expect(ruleIds(await violations('cli/demo.ts', code))).not.toContain('no-console')
    expect(ruleIds(await violations('test/unit/config.test.ts', code))).not.toContain('no-console')
  })
})
