/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`): self time by function and by file, the top N of each, as a
 * markdown table for the performance notes. Not a test; it reads the profile and prints.
 *
 * Usage: node bench/profile-summary.ts <file.cpuprofile> [--top N]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { integerArg } from './lib/args.ts'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

const usage = 'Usage: node bench/profile-summary.ts <file.cpuprofile> [--top N]'

function shortUrl(url: string): string {
  if (url === '') return '(native / V8)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length)
  const root = url.indexOf('/wt-')
  return root >= 0 ? url.slice(url.indexOf('/', root + 1) + 1) : url.replace('file://', '')
}

function table(title: string, totals: Map<string, number>, allUs: number, top: number): string[] {
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top)
  return [
    `| ${title} | self ms | share |`,
    '| --- | --- | --- |',
    ...rows.map(([name, us]) => `| ${name} | ${Math.round(us / 1000)} | ${((100 * us) / allUs).toFixed(1)} % |`),
    '',
  ]
}

function main(): void {
  if (process.argv.includes('--help')) {
    console.log(usage)
    return
  }
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string', default: '25' } },
    allowPositionals: true,
  })
  const file = positionals[0]
  if (file === undefined) throw new Error(usage)
  const top = integerArg('top', values.top, 1)
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let allUs = 0
  let idleUs = 0
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame
    allUs += us
    if (frame.functionName === '(idle)') idleUs += us
    const where = shortUrl(frame.url)
    const name = `${frame.functionName || '(anonymous)'} ${where}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + us)
    byFile.set(where, (byFile.get(where) ?? 0) + us)
  }
  const wallMs = (profile.endTime - profile.startTime) / 1000
  console.log(
    [
      `Profile ${file}: ${Math.round(wallMs)} ms wall, ${Math.round(allUs / 1000)} ms sampled, ` +
        `${Math.round(idleUs / 1000)} ms idle (${((100 * idleUs) / allUs).toFixed(1)} %).`,
      '',
      ...table('function (self time)', byFunction, allUs, top),
      ...table('file (self time)', byFile, allUs, top),
    ].join('\n'),
  )
}

main()
