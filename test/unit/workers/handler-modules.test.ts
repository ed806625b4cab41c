import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { HandlerRegistry } from '../../../workers/handler.ts'
import { loadHandlerModules } from '../../../workers/handler-modules.ts'
import { echoServer } from '../../helpers/stand-ins.ts'
import { execution, runHandler } from './run-handler.ts'

describe('handler modules', () => {
  it('loads the README example module (shown verbatim) and runs its handlers', async () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
    expect(readme).toContain(readFileSync(new URL('../../../examples/my-handlers.ts', import.meta.url), 'utf8').trim())
    const registry = new HandlerRegistry()
    await loadHandlerModules(['examples/my-handlers.ts'], registry)
    expect(
      registry
        .list()
        .map((h) => `${h.category}/${h.type}`)
        .sort(),
    ).toEqual(['internal/fetch-size', 'internal/purge-cache'])
    const echo = await echoServer()
    const { result, logs } = await runHandler(
      registry.get('internal', 'fetch-size'),
      execution('internal', 'fetch-size', { url: `${echo.url}/x` }),
    )
    expect(result.status).toBe('SUCCEEDED')
    expect(JSON.parse(result.output!)).toMatchObject({
      status: 200,
      executionId: 't1:' + result.executionId.split(':')[1],
    })
    expect(logs.map((l) => l.message)).toEqual(['fetching', 'fetched'])
    const gone = await runHandler(
      registry.get('internal', 'fetch-size'),
      execution('internal', 'fetch-size', { url: `${echo.url}/x?status=404` }),
    )
    expect(gone.result.error).toMatchObject({ code: 'EXAMPLE_GONE', retriable: false })
    const purge = await runHandler(registry.get('internal', 'purge-cache'), execution('internal', 'purge-cache', {}))
    expect(JSON.parse(purge.result.output!)).toEqual({ purged: 0 })
  })

  it('refuses a module that exports no handler, naming it', async () => {
    await expect(loadHandlerModules(['examples/results-consumer.ts'], new HandlerRegistry())).rejects.toThrow(
      /handler module examples\/results-consumer.ts exports no handler|cannot load/,
    )
  })
})
