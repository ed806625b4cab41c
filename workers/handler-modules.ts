/**
 * Loads handler modules (`flextask worker --handlers ./my-handlers.ts`): each module's exports are read in order —
 * a Handler (from defineHandler), an array of Handlers, or a function exported as `register` (or `default`),
 * `(registry) => void | Promise<void>`, that registers its own (e.g. `registry.registerInternal('purge-cache', fn)`).
 * Other exports are ignored. Paths are resolved from the working
 * directory; TypeScript modules run on Node's type stripping like the rest of flextask.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import type { Handler, HandlerRegistry } from './handler.ts'

function isHandler(value: unknown): value is Handler {
  const v = value as Partial<Handler> | null
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.category === 'string' &&
    typeof v.type === 'string' &&
    typeof v.execute === 'function'
  )
}

export async function loadHandlerModules(paths: readonly string[], registry: HandlerRegistry): Promise<void> {
  for (const path of paths) {
    let module: Record<string, unknown>
    try {
      module = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>
    } catch (error) {
      throw new FlextaskError(ErrorCodes.config, `cannot load handler module ${path}: ${(error as Error).message}`, {
        cause: error,
        context: { field: 'worker.handlerModules' },
      })
    }
    let found = 0
    for (const [name, value] of Object.entries(module)) {
      if (isHandler(value)) {
        registry.register(value)
        found++
      } else if (Array.isArray(value) && value.every(isHandler)) {
        for (const h of value) registry.register(h)
        found += value.length
      } else if (typeof value === 'function' && (name === 'register' || name === 'default')) {
        await (value as (r: HandlerRegistry) => unknown)(registry)
        found++
      }
    }
    if (found === 0) {
      throw new FlextaskError(
        ErrorCodes.config,
        `handler module ${path} exports no handler (defineHandler(...), an array of them, or register(registry))`,
        { context: { field: 'worker.handlerModules' } },
      )
    }
  }
}
