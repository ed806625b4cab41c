/**
 * The web dashboard (ui/) end to end in a real browser: Debian's Chromium driven by playwright-core against the
 * real stack — `flextask up`'s host in this process (scheduler, worker, Postgres sink and the API that serves /ui)
 * on the shared broker and registry and a fresh Postgres database. Signs in with a key, creates a task, watches it
 * fire and succeed live over the WebSocket, pauses it and sees it stop firing, sees an invalid cron refused inline
 * with the scheduler validator's message, pages / searches / filters the tasks table, and checks that everything is
 * reachable by keyboard with labelled controls. Screenshots go to test-artifacts/ui/ (git-ignored).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newApiKey } from '../../api/api-keys.ts'
import { resolveConfig } from '../../config.ts'
import type { ComponentHost } from '../../host/component-host.ts'
import { createProcessDeps, createProcessHost } from '../../host/flextask-process.ts'
import { silentLogger } from '../../logger.ts'
import { kafkaBrokers, schemaRegistryUrl } from '../helpers/env.ts'
import { testAdmin, uniqueName, waitFor } from '../helpers/kafka.ts'
import { createTestDatabase } from '../helpers/postgres.ts'
import { deletePrefixTopics } from '../helpers/scheduler.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const artifacts = join(repo, 'test-artifacts/ui')
const handlers = fileURLToPath(new URL('../fixtures/api-e2e-handlers.ts', import.meta.url))
const prefix = uniqueName('ops-ui')
// Created before everything else of this file, dropped after its afterAll hooks (cleanup.ts).
const database = await createTestDatabase()
const port = 20_200 + Math.floor(Math.random() * 50)
const apiUrl = `http://127.0.0.1:${port}`
const admin = newApiKey('ui-admin', 'admin')
const stateDir = mkdtempSync(join(tmpdir(), 'ops-ui-'))
const { admin: kafkaAdmin } = testAdmin()
let host: ComponentHost
let browser: Browser
let page: Page

/** `flextask up` in this process: every component, one worker group (internal), categories internal and email. */
async function startStack(): Promise<ComponentHost> {
  const config = resolveConfig({
    KAFKA_BROKERS: kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: schemaRegistryUrl,
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '2',
    FLEXTASK_CATEGORIES: 'internal,email',
    FLEXTASK_WORKER_CATEGORIES: 'internal',
    FLEXTASK_WORKER_HANDLERS: handlers,
    FLEXTASK_STATE_DIR: stateDir,
    FLEXTASK_INSTANCE_ID: uniqueName('ui'),
    FLEXTASK_SESSION_TIMEOUT_MS: '6000',
    FLEXTASK_SINK_FLUSH_INTERVAL_MS: '20',
    DATABASE_URL: database.url,
    PORT: String(port),
    API_HOST: '127.0.0.1',
    METRICS_PORT: '0',
    FLEXTASK_API_KEYS: admin.entry,
  })
  const stack = createProcessHost(createProcessDeps(config, { logger: silentLogger }))
  const outcome = stack.run()
  await waitFor(
    'the stack to serve /health/ready',
    async () => {
      const done = await Promise.race([outcome, Promise.resolve(undefined)])
      if (done !== undefined) throw new Error(`the stack stopped: ${done.reason}`)
      return (await fetch(`${apiUrl}/health/ready`).catch(() => undefined))?.status === 200 ? true : undefined
    },
    90_000,
  )
  return stack
}

beforeAll(async () => {
  execFileSync('bash', [join(repo, 'scripts/install-chromium.sh')], { stdio: 'inherit' })
  mkdirSync(artifacts, { recursive: true })
  host = await startStack()
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    // --no-sandbox: Chromium refuses to run as root without it (CI runs as root). Playwright gives it a fresh
    // temporary profile itself.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.on('pageerror', (error) => console.log(`page error: ${error.message}`))
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await host?.stop('test over')
  await deletePrefixTopics(kafkaAdmin, prefix).catch(() => {})
  rmSync(stateDir, { recursive: true, force: true })
}, 60_000)

/** In the page: `<tag>:<accessible name>` of the focused element (its aria-label, its label's text, or its text). */
const focusedControl = `(() => {
  const el = document.activeElement
  const label = (el?.closest('label') ?? document.querySelector('label[for="' + el?.id + '"]'))?.textContent?.trim().split('\\n')[0]
  return el?.tagName.toLowerCase() + ':' + (el?.getAttribute('aria-label') ?? label ?? el?.textContent?.trim())
})()`

/** In the page: the form controls with no label (enclosing or `for` their id) and no aria-label. */
const unlabelledControls = `[...document.querySelectorAll('input, select, textarea')]
  .filter((el) => el.labels.length === 0 && el.getAttribute('aria-label') === null)
  .map((el) => el.outerHTML)`

const count = async (text: Promise<string | null>, pattern: RegExp): Promise<number> =>
  ((await text) ?? '').match(pattern)?.length ?? 0

describe('the web dashboard on the real stack', () => {
  it('signs in, creates a task, shows it firing and succeeding live, and pauses it', async () => {
    await page.goto(`${apiUrl}/ui/`)
    await page.getByLabel('API key', { exact: true }).fill(admin.key)
    await page.getByRole('button', { name: 'Open the dashboard' }).click()
    await expect.poll(() => page.getByTestId('live-state').textContent(), { timeout: 15_000 }).toBe('events: live')

    await page.getByRole('button', { name: 'New task' }).click()
    await page.getByLabel('Task id (optional)', { exact: true }).fill('ui-check')
    await page.getByLabel('Name', { exact: true }).fill('Check every second')
    await page.getByLabel('Category', { exact: true }).fill('internal')
    await page.getByLabel('Type (handler)', { exact: true }).fill('e2e-ok')
    await page.getByLabel('Schedule kind', { exact: true }).selectOption('INTERVAL')
    await page.getByLabel('Every (ms)', { exact: true }).fill('1000')
    await page.getByRole('button', { name: 'Create' }).click()

    await expect.poll(() => page.getByTestId('schedule-words').textContent(), { timeout: 15_000 }).toBe('every 1 s')
    const events = page.getByRole('list', { name: 'Live events of this task' })
    await expect.poll(() => count(events.textContent(), /SUCCEEDED/g), { timeout: 30_000 }).toBeGreaterThanOrEqual(2)
    await expect.poll(() => page.getByTestId('runs').textContent(), { timeout: 15_000 }).toContain('SUCCEEDED')
    await page.screenshot({ path: join(artifacts, 'task-live.png'), fullPage: true })

    // The task list with the charts while it runs, then back to pause it.
    await page.goto(`${apiUrl}/ui/#/tasks`)
    await expect.poll(() => page.getByRole('table', { name: /^Tasks, page/ }).textContent()).toContain('ui-check')
    await page.waitForTimeout(6000)
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true })
    await page.getByRole('link', { name: 'ui-check' }).click()

    await page.getByRole('button', { name: 'Pause' }).click()
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Pause: done' }).count()).toBe(1)
    await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 15_000 }).toBe('PAUSED')
    // A fire committed just before the pause may still be on its way over the WebSocket: let it land, then count.
    await page.waitForTimeout(2000)
    const firesAtPause = await count(events.textContent(), /fired/g)
    await page.waitForTimeout(3500)
    expect(await count(events.textContent(), /fired/g)).toBe(firesAtPause)
    expect(await page.getByText('Paused: nothing fires.').count()).toBe(1)
    await page.screenshot({ path: join(artifacts, 'task-paused.png'), fullPage: true })

    // A paused task still runs when triggered by hand.
    await page.getByRole('button', { name: 'Trigger now' }).click()
    await expect.poll(async () => (await events.textContent()) ?? '', { timeout: 20_000 }).toContain('MANUAL')
  })

  it('refuses an invalid cron inline with the validator message', async () => {
    await page.goto(`${apiUrl}/ui/#/new`)
    await page.getByLabel('Category', { exact: true }).fill('internal')
    await page.getByLabel('Type (handler)', { exact: true }).fill('e2e-ok')
    await page.getByLabel('Schedule kind', { exact: true }).selectOption('CRON')
    await page.getByLabel('Cron (with seconds)', { exact: true }).fill('61 * * * * *')
    await page.getByRole('button', { name: 'Create' }).click()
    const cron = page.locator('#f-cron')
    await expect.poll(() => cron.getAttribute('aria-invalid')).toBe('true')
    const message = await page.locator('#f-cron-error').textContent()
    expect(message).toMatch(/schedule\.cron.*not a valid cron pattern/)
    expect(await cron.getAttribute('aria-describedby')).toBe('f-cron-error')
    expect(page.url()).toContain('#/new')
    await page.screenshot({ path: join(artifacts, 'invalid-cron.png'), fullPage: true })
  })

  it('pages, searches and filters the tasks table', async () => {
    for (let i = 0; i < 24; i++) {
      const response = await fetch(`${apiUrl}/api/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          taskId: `report-${String(i).padStart(2, '0')}`,
          category: i % 2 === 0 ? 'email' : 'internal',
          type: 'send',
          schedule: { kind: 'CRON', cron: '0 0 2 * * *', timezone: 'Europe/Berlin' },
        }),
      })
      expect(response.status, await response.text()).toBe(201)
    }
    await page.goto(`${apiUrl}/ui/#/tasks`)
    const pager = page.getByLabel('Pages', { exact: true })
    await expect.poll(() => pager.textContent(), { timeout: 15_000 }).toContain('Page 1 of 2 (25 tasks)')
    await page.getByRole('button', { name: 'Next' }).click()
    await expect.poll(() => pager.textContent()).toContain('Page 2 of 2 (25 tasks)')
    const table = page.getByRole('table', { name: /^Tasks, page/ })
    await expect.poll(() => table.textContent()).toContain('report-23')
    await page.getByLabel('Search', { exact: true }).fill('report-1')
    await expect.poll(() => pager.textContent()).toContain('Page 1 of 1 (10 tasks)')
    await page.getByLabel('Category', { exact: true }).fill('email')
    await expect.poll(() => pager.textContent()).toContain('(5 tasks)')
    await expect.poll(() => table.textContent()).toContain('cron 0 0 2 * * * (every day at 02:00) in Europe/Berlin')
  })

  it('is usable by keyboard: tab reaches labelled navigation, search and the new-task button', async () => {
    await page.goto(`${apiUrl}/ui/#/tasks`)
    await page.reload()
    const reached: string[] = []
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab')
      reached.push(await page.evaluate<string>(focusedControl))
    }
    expect(reached).toContain('a:Tasks')
    expect(reached).toContain('a:Dead letters')
    expect(reached.some((r) => r.startsWith('input:Search'))).toBe(true)
    expect(reached).toContain('button:New task')
    // Every form control of the page has an accessible label.
    const unlabelled = await page.evaluate<string[]>(unlabelledControls)
    expect(unlabelled).toEqual([])
  })
})
