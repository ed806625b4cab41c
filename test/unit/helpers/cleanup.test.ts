/**
 * Regression test for the leaked handles of the worker built-in suites: helpers registered their cleanup with an
 * `afterAll` from inside hooks and tests, which Vitest drops, so their servers kept `vitest run` from exiting
 * ("Timeout terminating forks worker"). Runs a fixture file as a child `vitest run` and requires it to exit by
 * itself, successfully.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const vitest = fileURLToPath(new URL('../../../node_modules/vitest/vitest.mjs', import.meta.url))
const fixtureConfig = fileURLToPath(new URL('../../fixtures/cleanup/vitest.config.ts', import.meta.url))

it('lets vitest exit by itself after stand-ins were opened in a beforeAll and in a test', async () => {
  const child = spawn(process.execPath, [vitest, 'run', '--config', fixtureConfig], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  // Generous for a loaded machine; a leak keeps the child alive well past it.
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000)
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  clearTimeout(killer)
  expect(output).not.toContain('Timeout terminating')
  expect(code, output).toBe(0)
  expect(output).toMatch(/Tests\s+1 passed/)
}, 120_000)
