/**
 * The web dashboard (ui/) in a real browser: Debian's Chromium driven by playwright-core, against the stand-in
 * API of test/helpers/stand-in-api.ts (the API's routes and event messages over in-memory tasks; the real API is
 * not on main yet). Signs in with a key, creates a task, watches it fire and succeed live over the WebSocket,
 * pauses it and sees it stop, sees an invalid cron refused inline with the validator's message, and checks that
 * everything is reachable by keyboard with labelled controls. Screenshots go to test-artifacts/ui/.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type StandInApi, startStandInApi } from '../helpers/stand-in-api.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const artifacts = join(repo, 'test-artifacts/ui')
let api: StandInApi
let browser: Browser
let page: Page

beforeAll(async () => {
  execFileSync('bash', [join(repo, 'scripts/install-chromium.sh')], { stdio: 'inherit' })
  mkdirSync(artifacts, { recursive: true })
  api = await startStandInApi()
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
}, 300_000)

afterAll(async () => {
  await browser?.close()
  await api?.close()
})

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

describe('the web dashboard', () => {
  it('signs in, creates a task, shows it firing and succeeding live, and pauses it', async () => {
    await page.goto(`${api.url}/ui/`)
    await page.getByLabel('API key', { exact: true }).fill(api.apiKey)
    await page.getByRole('button', { name: 'Open the dashboard' }).click()
    await expect.poll(() => page.getByTestId('live-state').textContent(), { timeout: 15_000 }).toBe('events: live')

    await page.getByRole('button', { name: 'New task' }).click()
    await page.getByLabel('Task id (optional)', { exact: true }).fill('health-check')
    await page.getByLabel('Name', { exact: true }).fill('Health check every second')
    await page.getByLabel('Type (handler)', { exact: true }).fill('HealthCheck')
    await page.getByLabel('Schedule kind', { exact: true }).selectOption('INTERVAL')
    await page.getByLabel('Every (ms)', { exact: true }).fill('1000')
    await page.getByRole('button', { name: 'Create' }).click()

    await expect.poll(() => page.getByTestId('schedule-words').textContent(), { timeout: 10_000 }).toBe('every 1 s')
    const events = page.getByRole('list', { name: 'Live events of this task' })
    await expect
      .poll(async () => ((await events.textContent()) ?? '').match(/SUCCEEDED/g)?.length ?? 0, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2)
    await expect.poll(() => page.getByTestId('runs').textContent()).toContain('SUCCEEDED')
    await page.screenshot({ path: join(artifacts, 'task-live.png'), fullPage: true })

    // The task list with the charts while it runs (the README's screenshot), then back to pause it.
    await page.goto(`${api.url}/ui/#/tasks`)
    await expect.poll(() => page.getByRole('table', { name: /^Tasks, page/ }).textContent()).toContain('health-check')
    await page.waitForTimeout(9000)
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true })
    await page.getByRole('link', { name: 'health-check' }).click()

    await page.getByRole('button', { name: 'Pause' }).click()
    await expect.poll(() => page.getByTestId('task-status').textContent()).toBe('PAUSED')
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Pause: done' }).count()).toBe(1)
    // A fire sent just before the pause may still be on its way over the WebSocket: let it land, then count.
    await page.waitForTimeout(1200)
    const firesAtPause = ((await events.textContent()) ?? '').match(/fired/g)?.length ?? 0
    await page.waitForTimeout(2500)
    const firesLater = ((await events.textContent()) ?? '').match(/fired/g)?.length ?? 0
    expect(firesLater).toBe(firesAtPause)
    expect(await page.getByText('Paused: nothing fires.').count()).toBe(1)
    await page.screenshot({ path: join(artifacts, 'task-paused.png'), fullPage: true })

    // A paused task still runs when triggered by hand.
    await page.getByRole('button', { name: 'Trigger now' }).click()
    await expect.poll(async () => (await events.textContent()) ?? '', { timeout: 10_000 }).toContain('MANUAL')
  })

  it('refuses an invalid cron inline with the validator message', async () => {
    await page.goto(`${api.url}/ui/#/new`)
    await page.getByLabel('Type (handler)', { exact: true }).fill('HealthCheck')
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
      const response = await fetch(`${api.url}/api/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          taskId: `report-${String(i).padStart(2, '0')}`,
          category: i % 2 === 0 ? 'email' : 'http',
          type: 'send',
          schedule: { kind: 'CRON', cron: '0 0 2 * * *', timezone: 'Europe/Berlin' },
        }),
      })
      expect(response.status).toBe(201)
    }
    await page.goto(`${api.url}/ui/#/tasks`)
    const pager = page.getByLabel('Pages', { exact: true })
    await expect.poll(() => pager.textContent()).toContain('Page 1 of 2 (25 tasks)')
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
    await page.goto(`${api.url}/ui/#/tasks`)
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
