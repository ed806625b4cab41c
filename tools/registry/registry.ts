/**
 * Local Schema Registry for demos and tests: Apicurio Registry 3.x (Maven Central, Apache-2.0) serving the
 * Confluent REST API under /apis/ccompat/v7, with in-memory storage. It is a real registry server, not a
 * test double; docker-compose.yml uses Confluent's own image instead.
 *
 *   node tools/registry/registry.ts start | stop | status
 *
 * Environment (all optional):
 *   REGISTRY_PORT      HTTP port, default 8081
 *   REGISTRY_JAVA      a java binary of version 21 or newer (Apicurio 3.3 needs 21); default: the first
 *                      one found in JAVA_HOME, on PATH, or under /usr/lib/jvm
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { portInUse, readPid, startService, status, stopService, type ServiceSpec } from '../service.ts'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const home = join(root, '.tools/registry')
const port = Number(process.env.REGISTRY_PORT ?? 8081)
const host = '127.0.0.1'
export const registryUrl = `http://${host}:${port}/apis/ccompat/v7`

function apicurioVersion(): string {
  const pom = execFileSync('sed', [
    '-n',
    's:.*<apicurio.version>\\(.*\\)</apicurio.version>.*:\\1:p',
    join(here, 'pom.xml'),
  ])
  return pom.toString().trim()
}

function javaMajor(bin: string): number {
  const out = spawnSync(bin, ['-version'], { encoding: 'utf8' })
  const match = /version "(\d+)/.exec(`${out.stderr}${out.stdout}`)
  return match ? Number(match[1]) : 0
}

function findJava(): string {
  const candidates = [
    process.env.REGISTRY_JAVA,
    process.env.JAVA_HOME && join(process.env.JAVA_HOME, 'bin/java'),
    'java',
    ...(existsSync('/usr/lib/jvm') ? readdirSync('/usr/lib/jvm').map((d) => join('/usr/lib/jvm', d, 'bin/java')) : []),
  ].filter((c): c is string => typeof c === 'string' && c.length > 0)
  for (const bin of candidates) if (javaMajor(bin) >= 21) return bin
  throw new Error(
    `registry: Apicurio Registry ${apicurioVersion()} needs Java 21 or newer; none found in REGISTRY_JAVA, JAVA_HOME, ` +
      'PATH or /usr/lib/jvm. Install one (e.g. apt-get install openjdk-21-jre-headless or temurin-21-jdk) and retry.',
  )
}

function appDir(): string {
  return join(home, `apicurio-registry-${apicurioVersion()}`)
}

/** Fetches and unpacks the Quarkus distribution unless this version is there already. */
function ensureDistribution(): void {
  const dir = appDir()
  if (existsSync(join(dir, 'quarkus-run.jar'))) return
  const version = apicurioVersion()
  console.log(`registry: fetching Apicurio Registry ${version} from Maven Central (first run only, ~160 MB)…`)
  mkdirSync(home, { recursive: true })
  const mvn = spawnSync(
    'mvn',
    [
      '-B',
      '--no-transfer-progress',
      '-Dstyle.color=never',
      '-f',
      join(here, 'pom.xml'),
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy',
      `-Dartifact=io.apicurio:apicurio-registry-app:${version}:tar.gz:all`,
      `-DoutputDirectory=${home}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  if (mvn.status !== 0)
    throw new Error(`registry: mvn could not fetch Apicurio (exit ${mvn.status}):\n${mvn.stdout.toString()}`)
  mkdirSync(dir, { recursive: true })
  const archive = join(home, `apicurio-registry-app-${version}-all.tar.gz`)
  const tar = spawnSync('tar', ['-xzf', archive, '-C', dir], { stdio: 'inherit' })
  if (tar.status !== 0 || !existsSync(join(dir, 'quarkus-run.jar'))) {
    throw new Error(`registry: unpacking ${archive} did not produce quarkus-run.jar`)
  }
  rmSync(archive)
}

async function answers(): Promise<boolean> {
  const response = await fetch(`${registryUrl}/subjects`, { signal: AbortSignal.timeout(2000) })
  return response.ok
}

function spec(java = 'java'): ServiceSpec {
  return {
    name: 'registry',
    pidFile: join(home, `registry-${port}.pid`),
    logFile: join(home, 'logs', 'registry.out'),
    host,
    port,
    command: java,
    args: [
      '-Xms128m',
      '-Xmx384m',
      '-XX:TieredStopAtLevel=1',
      `-Dquarkus.http.host=${host}`,
      `-Dquarkus.http.port=${port}`,
      `-Dquarkus.management.host=${host}`,
      `-Dquarkus.management.port=${port + 1000}`,
      '-jar',
      join(appDir(), 'quarkus-run.jar'),
    ],
    isReady: answers,
    readyTimeoutMs: 90_000,
  }
}

export async function startRegistry(): Promise<boolean> {
  const running = readPid(spec().pidFile)
  if (running !== undefined) {
    console.log(`registry: already running (pid ${running}) at ${registryUrl}`)
    return false
  }
  if (await portInUse(host, port)) {
    throw new Error(
      `registry: port ${host}:${port} is already in use by another process. Stop it or set REGISTRY_PORT.`,
    )
  }
  ensureDistribution()
  const java = findJava()
  mkdirSync(join(home, 'logs'), { recursive: true })
  writeFileSync(join(home, 'logs', 'registry.out'), '')
  console.log(`registry: starting Apicurio Registry ${apicurioVersion()} with ${java}; Confluent API at ${registryUrl}`)
  const started = await startService(spec(java))
  // Confluent's default is BACKWARD; Apicurio's is NONE. flextask's subjects ask for BACKWARD_TRANSITIVE themselves.
  await fetch(`${registryUrl}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
  })
  return started
}

export async function stopRegistry(): Promise<boolean> {
  return stopService(spec())
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const command = process.argv[2]
  try {
    if (command === 'start') await startRegistry()
    else if (command === 'stop') await stopRegistry()
    else if (command === 'status') status(spec())
    else throw new Error('usage: node tools/registry/registry.ts start|stop|status')
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    process.exitCode = 1
  }
}
