import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { uiPlugin } from '../../../ui/ui-plugin.ts'

const app = Fastify({ logger: false })
await app.register(uiPlugin, { prefix: '/ui' })
afterAll(() => app.close())

describe('the dashboard plugin', () => {
  it('serves the page with an import map to the vendored libraries, and the libraries themselves', async () => {
    const page = await app.inject('/ui/')
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    const imports = (
      JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(page.body)![1]!) as {
        imports: Record<string, string>
      }
    ).imports
    expect(Object.keys(imports).sort()).toEqual(['htm', 'htm/preact', 'preact', 'preact/hooks', 'uplot'])
    for (const path of Object.values(imports)) {
      const file = await app.inject(`/ui/${path.replace(/^\.\//, '')}`)
      expect(file.statusCode, path).toBe(200)
      expect(file.headers['content-type'], path).toMatch(/^text\/javascript/)
      expect(file.body, path).toMatch(/export/)
    }
    expect((await app.inject('/ui/vendor/uplot.css')).headers['content-type']).toMatch(/^text\/css/)
    expect((await app.inject('/ui/app.js')).statusCode).toBe(200)
    // No CDN: every script and stylesheet of the page is local.
    expect(page.body).not.toMatch(/https?:\/\//)
  })

  it('serves nothing else from node_modules', async () => {
    for (const url of [
      '/ui/vendor/package.json',
      '/ui/vendor/..%2F..%2Fpackage.json',
      '/ui/vendor/%2E%2E/preact.mjs',
    ]) {
      expect((await app.inject(url)).statusCode, url).toBe(404)
    }
    expect((await app.inject('/ui/../package.json')).statusCode).not.toBe(200)
  })
})
