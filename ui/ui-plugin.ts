/**
 * The web dashboard as a Fastify plugin: the API registers it with one line,
 * `await app.register(uiPlugin, { prefix: '/ui' })`, outside its authenticated /api scope — the page and its
 * scripts are static and public, and every call the page makes goes to /api with the API key the operator types
 * in (kept in the tab's sessionStorage), so the dashboard is behind the same keys as the API.
 *
 * No build step and no CDN: ui/public/ holds plain ES modules (preact + htm, uPlot), served as they are, and the
 * three libraries come from node_modules through a fixed map (never a path taken from the URL), wired to their
 * bare specifiers by the import map in index.html.
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

const require = createRequire(import.meta.url)
const publicDir = join(dirname(fileURLToPath(import.meta.url)), 'public')

/** The installed folder of a package (some do not export their package.json, so from its resolved entry). */
function packageDir(name: string): string {
  const entry = require.resolve(name)
  const marker = `/node_modules/${name}/`
  return entry.slice(0, entry.lastIndexOf(marker) + marker.length - 1)
}

/** URL under <prefix>/vendor/ → file in node_modules, with its content type. */
function vendorFiles(): Map<string, { path: string; type: string }> {
  const js = 'text/javascript; charset=utf-8'
  const preact = packageDir('preact')
  const htm = packageDir('htm')
  const uplot = packageDir('uplot')
  return new Map([
    ['preact.mjs', { path: join(preact, 'dist/preact.mjs'), type: js }],
    ['preact-hooks.mjs', { path: join(preact, 'hooks/dist/hooks.mjs'), type: js }],
    ['htm-preact.mjs', { path: join(htm, 'preact/index.mjs'), type: js }],
    ['htm.mjs', { path: join(htm, 'dist/htm.mjs'), type: js }],
    ['uplot.mjs', { path: join(uplot, 'dist/uPlot.esm.js'), type: js }],
    ['uplot.css', { path: join(uplot, 'dist/uPlot.min.css'), type: 'text/css; charset=utf-8' }],
  ])
}

export async function uiPlugin(app: FastifyInstance): Promise<void> {
  const vendor = vendorFiles()
  app.get<{ Params: { file: string } }>('/vendor/:file', async (request, reply) => {
    const file = vendor.get(request.params.file)
    if (file === undefined) return reply.code(404).type('text/plain').send('not found\n')
    return reply
      .type(file.type)
      .header('cache-control', 'public, max-age=3600')
      .send(await readFile(file.path))
  })
  await app.register(fastifyStatic, {
    root: publicDir,
    prefix: '/',
    decorateReply: false,
    index: ['index.html'],
    cacheControl: false,
  })
}

// Fastify plugin metadata: keep the routes in the prefix the caller registers (no fastify-plugin skip-override).
Object.assign(uiPlugin, { [Symbol.for('fastify.display-name')]: 'flextask-ui' })
