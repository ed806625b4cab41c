// A handler module: `node cli/flextask.ts worker --categories internal --handlers examples/my-handlers.ts`
import Type from 'typebox'
import { request } from 'undici'
import { defineHandler, handlerError, type HandlerRegistry } from '../workers/handler.ts'

// category 'internal', type 'fetch-size': a task { "category": "internal", "type": "fetch-size", "payload": "{\"url\":…}" }
export const fetchSize = defineHandler({
  category: 'internal',
  type: 'fetch-size',
  payloadSchema: Type.Object({ url: Type.String({ pattern: '^https?://' }), minBytes: Type.Optional(Type.Integer()) }),
  async execute(ctx) {
    ctx.log.info('fetching', { url: ctx.payload.url })
    // Pass ctx.signal to every I/O call: it fires on the deadline, on shutdown and on a rebalance.
    const response = await request(ctx.payload.url, { signal: ctx.signal })
    const bytes = (await response.body.arrayBuffer()).byteLength
    if (response.statusCode === 404)
      throw handlerError('EXAMPLE_GONE', `${ctx.payload.url} is gone`, { retriable: false })
    if (response.statusCode >= 500)
      throw handlerError('EXAMPLE_UPSTREAM', `upstream ${response.statusCode}`, { retriable: true })
    ctx.progress(1, 'fetched')
    // ctx.executionId is the same on a redelivery and on every retry of this fire: an idempotency key.
    return { status: response.statusCode, bytes, executionId: ctx.executionId }
  },
})

// Plain functions by name: category 'internal', type = the name.
const cache = new Map<string, string>()
export function register(registry: HandlerRegistry): void {
  registry.registerInternal('purge-cache', () => {
    const purged = cache.size
    cache.clear()
    return { purged }
  })
}
