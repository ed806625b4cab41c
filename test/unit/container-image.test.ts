/**
 * The Dockerfile, checked without a Docker engine: it runs as a non-root user, has a HEALTHCHECK on /health/live,
 * keeps the state directory in a VOLUME, every COPY source exists, and what the image leaves out (.dockerignore,
 * `npm ci --omit=dev`) is nothing the `flextask` command imports.
 */
import { existsSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../../config.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const text = readFileSync(join(root, 'Dockerfile'), 'utf8')

/** Instructions with line continuations joined, comments dropped. */
const instructions = text
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))
  .map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/)
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') }
  })
const finalStage = instructions.slice(instructions.findLastIndex((i) => i.keyword === 'FROM'))
const of = (keyword: string) => finalStage.filter((i) => i.keyword === keyword).map((i) => i.args)
const env = Object.fromEntries(
  of('ENV').flatMap((args) => [...args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1] as string, m[2] as string])),
)
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))

describe('the container image', () => {
  it('runs as a non-root user, by numeric id so Kubernetes runAsNonRoot can check it', () => {
    const users = of('USER')
    expect(users).toHaveLength(1)
    expect(users[0]).toMatch(/^[1-9]\d*(:\d+)?$/)
  })

  it('checks its health on /health/live of METRICS_PORT', () => {
    const [healthcheck] = of('HEALTHCHECK')
    expect(healthcheck).toMatch(/CMD .*\/health\/live/)
    expect(healthcheck).toContain('METRICS_PORT')
    expect(env.METRICS_PORT).toBe(String(resolveConfig({}).metrics.port))
    expect(of('EXPOSE').join(' ').split(' ')).toEqual(expect.arrayContaining([env.METRICS_PORT, env.PORT]))
  })

  it('keeps the LevelDB state directory in a volume the user owns', () => {
    const stateDir = resolveConfig({ FLEXTASK_STATE_DIR: env.FLEXTASK_STATE_DIR }).runtime.stateDir
    expect(stateDir).toBe('/var/lib/flextask')
    expect(of('VOLUME').join(' ')).toContain(`"${stateDir}"`)
    expect(of('RUN').join('\n')).toContain(`chown 1000:1000 ${stateDir}`)
    // VOLUME after the chown, or the volume would be initialised root-owned.
    const indexOf = (keyword: string) => finalStage.findIndex((i) => i.keyword === keyword)
    expect(indexOf('VOLUME')).toBeGreaterThan(finalStage.findIndex((i) => i.args.includes('chown')))
  })

  it('copies only sources that exist', () => {
    const copies = instructions.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))
    expect(copies.length).toBeGreaterThan(0)
    for (const copy of copies) {
      const sources = copy.args
        .split(/\s+/)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1)
      for (const source of sources) expect(existsSync(join(root, source)), `COPY ${source}`).toBe(true)
    }
  })

  it('starts the flextask command, which imports nothing the image leaves out', () => {
    expect(of('ENTRYPOINT')).toEqual(['["node", "cli/flextask.ts"]'])
    for (const needed of ['node_modules', 'test', '.tools', '.state', '.git']) expect(ignored).toContain(needed)
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    const seen = new Set<string>()
    const packages = new Set<string>()
    const queue = [join(root, 'cli/flextask.ts')]
    while (queue.length > 0) {
      const file = queue.pop() as string
      if (seen.has(file)) continue
      seen.add(file)
      expect(existsSync(file), relative(root, file)).toBe(true)
      const top = relative(root, file).split('/')[0] as string
      expect(ignored, `${relative(root, file)} is imported by the flextask command`).not.toContain(top)
      const source = readFileSync(file, 'utf8')
      // Type-only imports are erased when node strips the types.
      for (const m of source.matchAll(/^(?:import|export)\s(?!type\s)[^'"]*?from\s+'([^']+)'/gm)) {
        const spec = m[1] as string
        if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec))
        else if (!spec.startsWith('node:') && !builtinModules.includes(spec))
          packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string))
      }
    }
    expect(seen.size).toBeGreaterThan(20)
    for (const name of packages)
      expect(Object.keys(pkg.dependencies), `${name} must be a runtime dependency`).toContain(name)
  })
})
