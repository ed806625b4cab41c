/**
 * Helm without a helm binary (not packaged for Debian or npm): helm-java from Maven Central bundles Helm 3 as a
 * native library (linux-amd64); HelmTool.java drives it. The jars are fetched once into .tools/helm/libs
 * (about 32 MB, ~20 s), like tools/kafka does for the broker.
 *
 *   node tools/helm/helm.ts version | lint <chart> | template <chart> <release> <namespace> [-f values] [--set k=v]
 *   (lint is always --strict)
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const libs = join(root, '.tools/helm/libs')

function helmJavaVersion(): string {
  const pom = execFileSync('sed', [
    '-n',
    's:.*<helm-java.version>\\(.*\\)</helm-java.version>.*:\\1:p',
    join(here, 'pom.xml'),
  ])
  return pom.toString().trim()
}

/** Resolves helm-java and its native library into .tools/helm/libs unless this version is there already. */
export function ensureHelmJars(): void {
  const marker = join(libs, `.complete-${helmJavaVersion()}`)
  if (existsSync(marker)) return
  mkdirSync(libs, { recursive: true })
  const mvn = spawnSync(
    'mvn',
    [
      '-B',
      '--no-transfer-progress',
      '-Dstyle.color=never',
      '-f',
      join(here, 'pom.xml'),
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
      `-DoutputDirectory=${libs}`,
      '-DincludeScope=runtime',
    ],
    { encoding: 'utf8' },
  )
  if (mvn.status !== 0) throw new Error(`helm: mvn could not resolve helm-java (exit ${mvn.status}):\n${mvn.stdout}`)
  writeFileSync(marker, new Date().toISOString())
}

export interface HelmResult {
  status: number
  output: string
}

/**
 * Runs HelmTool.java once for several commands (chart paths relative to the repository root), e.g.
 * `helm([['lint', chart], ['template', chart, 'ft', 'default', '--set', 'a=b']])`: one result per command.
 */
export function helm(commands: string[][]): HelmResult[] {
  ensureHelmJars()
  const args = commands.flatMap((command, i) => (i === 0 ? command : ['---', ...command]))
  const run = spawnSync('java', ['-cp', `${libs}/*`, join(here, 'HelmTool.java'), ...args], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  const parts = run.stdout.split(/^=== (\d+)\n/m).slice(1)
  const results: HelmResult[] = []
  for (let i = 0; i + 1 < parts.length; i += 2) results.push({ status: Number(parts[i]), output: parts[i + 1] ?? '' })
  if (results.length !== commands.length)
    throw new Error(
      `helm: java exited ${run.status} after ${results.length} of ${commands.length} commands:\n${run.stderr}`,
    )
  return results
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [result] = helm([process.argv.slice(2)])
  process.stdout.write(result?.output ?? '')
  process.exitCode = result?.status ?? 1
}
