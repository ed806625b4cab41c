/**
 * Local Apache Kafka for demos and tests: one KRaft broker+controller on 127.0.0.1, from Maven Central jars.
 *
 *   node tools/kafka/kafka.ts start | stop | status
 *
 * Environment (all optional):
 *   KAFKA_PORT             broker listener port, default 9092
 *   KAFKA_CONTROLLER_PORT  controller listener port, default 9093
 *   KAFKA_DATA_DIR         log dirs and KRaft metadata, default .tools/kafka/data-<port>
 *   KAFKA_HEAP             JVM heap, default 512m
 *   KAFKA_READY_TIMEOUT_MS readiness timeout, default 90000
 *   KAFKA_SASL_USERS       `name:password,…`: the client listener becomes SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256
 *                          and SCRAM-SHA-512 for these users (SCRAM credentials are written when the storage is
 *                          formatted, so use a fresh KAFKA_DATA_DIR); default: a PLAINTEXT listener
 *   KAFKA_TLS_DIR          a directory with `ca.pem` and `server.pem` (PKCS#8 key + certificate chain): the client
 *                          listener becomes SSL (not combined with KAFKA_SASL_USERS); the broker does not check host
 *                          names on its own inter-broker connection
 *   KAFKA_TLS_CLIENT_AUTH  `required` asks clients for a certificate signed by ca.pem; default none
 *
 * Broker settings are tuned for one machine (1-partition internal topics, no initial rebalance delay) but
 * transactions keep the broker defaults, including transaction.partition.verification.enable=true.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { Admin } from '@platformatic/kafka'
import { portInUse, readPid, startService, status, stopService, type ServiceSpec } from '../service.ts'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const home = join(root, '.tools/kafka')
const libs = join(home, 'libs')
const port = Number(process.env.KAFKA_PORT ?? 9092)
const controllerPort = Number(process.env.KAFKA_CONTROLLER_PORT ?? 9093)
const dataDir = resolve(process.env.KAFKA_DATA_DIR ?? join(home, `data-${port}`))
const heap = process.env.KAFKA_HEAP ?? '512m'
const host = '127.0.0.1'
/** The default broker logs to .tools/kafka/logs; one on another port (a test's own broker) to logs-<port>. */
const logsDir = join(home, port === 9092 ? 'logs' : `logs-${port}`)
const saslUsers = (process.env.KAFKA_SASL_USERS ?? '')
  .split(',')
  .filter(Boolean)
  .map((entry) => {
    const [name = '', ...password] = entry.split(':')
    return { name, password: password.join(':') }
  })
const tlsDir = process.env.KAFKA_TLS_DIR
const tlsClientAuth = process.env.KAFKA_TLS_CLIENT_AUTH ?? 'none'
/** The broker's own PLAIN user on a SASL listener (inter-broker traffic and the readiness probe). */
const brokerUser = { name: 'flextask-broker', password: 'flextask-broker-secret' }

function kafkaVersion(): string {
  const pom = execFileSync('sed', ['-n', 's:.*<kafka.version>\\(.*\\)</kafka.version>.*:\\1:p', join(here, 'pom.xml')])
  return pom.toString().trim()
}

/** Resolves the broker's classpath into .tools/kafka/libs unless this version is there already. */
function ensureJars(): void {
  const marker = join(libs, `.complete-${kafkaVersion()}`)
  if (existsSync(marker)) return
  console.log(`kafka: fetching Apache Kafka ${kafkaVersion()} jars from Maven Central (first run only)…`)
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
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const out = mvn.stdout.toString()
  for (const line of out.split('\n'))
    if (/Copying|BUILD|ERROR/.test(line)) console.log(`  ${line.replace(/^\[INFO\] /, '')}`)
  if (mvn.status !== 0)
    throw new Error(`kafka: mvn could not resolve the broker jars (exit ${mvn.status}); see output above`)
  writeFileSync(marker, new Date().toISOString())
}

function listenerProperties(): string {
  if (tlsDir !== undefined) {
    return `listeners=SSL://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=SSL://${host}:${port}
listener.security.protocol.map=SSL:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SSL
ssl.keystore.type=PEM
ssl.keystore.location=${join(tlsDir, 'server.pem')}
ssl.truststore.type=PEM
ssl.truststore.location=${join(tlsDir, 'ca.pem')}
ssl.client.auth=${tlsClientAuth}
ssl.endpoint.identification.algorithm=
`
  }
  if (saslUsers.length === 0) {
    return `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=PLAINTEXT://${host}:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
`
  }
  const plainUsers = [brokerUser, ...saslUsers].map((u) => `user_${u.name}="${u.password}"`).join(' ')
  const prefix = 'listener.name.sasl_plaintext'
  return `listeners=SASL_PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=SASL_PLAINTEXT://${host}:${port}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=PLAIN
${prefix}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${brokerUser.name}" password="${brokerUser.password}" ${plainUsers};
${prefix}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
${prefix}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
`
}

function serverProperties(): string {
  return `process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=${host}:${controllerPort}
${listenerProperties()}controller.listener.names=CONTROLLER
log.dirs=${join(dataDir, 'logs')}
num.partitions=3
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
log.segment.bytes=16777216
log.cleaner.backoff.ms=1000
`
}

function jvmArgs(): string[] {
  return [
    `-Xms256m`,
    `-Xmx${heap}`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=file:${join(here, 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${logsDir}`,
    '-cp',
    `${libs}/*`,
  ]
}

function formatStorage(propsFile: string): void {
  if (existsSync(join(dataDir, 'logs', 'meta.properties'))) return
  const clusterId = Buffer.from(randomUUID().replaceAll('-', ''), 'hex').toString('base64url')
  const fmt = spawnSync(
    'java',
    [
      ...jvmArgs(),
      'kafka.tools.StorageTool',
      'format',
      '--standalone',
      `--cluster-id=${clusterId}`,
      '-c',
      propsFile,
      '--ignore-formatted',
      ...saslUsers.flatMap((u) =>
        ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => [
          '--add-scram',
          `${m}=[name=${u.name},password=${u.password}]`,
        ]),
      ),
    ],
    { encoding: 'utf8' },
  )
  if (fmt.status !== 0) throw new Error(`kafka: formatting KRaft storage failed:\n${fmt.stdout}${fmt.stderr}`)
}

/** The readiness probe trusts ca.pem, presents the server's own certificate, and skips the host name check. */
function probeTls(dir: string): TlsOptions {
  const pem = readFileSync(join(dir, 'server.pem'))
  return { ca: readFileSync(join(dir, 'ca.pem')), cert: pem, key: pem, checkServerIdentity: () => undefined }
}

async function brokerAnswers(): Promise<boolean> {
  const admin = new Admin({
    clientId: 'flextask-kafka-probe',
    bootstrapBrokers: [`${host}:${port}`],
    retries: 0,
    ...(saslUsers.length === 0
      ? {}
      : { sasl: { mechanism: 'PLAIN', username: brokerUser.name, password: brokerUser.password } }),
    ...(tlsDir === undefined ? {} : { tls: probeTls(tlsDir) }),
  })
  try {
    const metadata = await admin.metadata({ topics: [] })
    return metadata.brokers.size > 0
  } finally {
    await admin.close().catch(() => {})
  }
}

function spec(): ServiceSpec {
  const propsFile = join(home, `server-${port}.properties`)
  return {
    name: 'kafka',
    pidFile: join(home, `kafka-${port}.pid`),
    logFile: join(logsDir, 'server.out'),
    host,
    port,
    command: 'java',
    args: [...jvmArgs(), 'kafka.Kafka', propsFile],
    isReady: brokerAnswers,
    readyTimeoutMs: Number(process.env.KAFKA_READY_TIMEOUT_MS ?? 90_000),
  }
}

export async function startKafka(): Promise<boolean> {
  const s = spec()
  const running = readPid(s.pidFile)
  if (running !== undefined) {
    console.log(`kafka: already running (pid ${running}) on ${host}:${port}`)
    return false
  }
  if (await portInUse(host, port)) {
    throw new Error(
      `kafka: port ${host}:${port} is already in use by another process (not a broker started from this checkout). ` +
        'Stop that process or set KAFKA_PORT to a free port.',
    )
  }
  ensureJars()
  mkdirSync(logsDir, { recursive: true })
  mkdirSync(dataDir, { recursive: true })
  const propsFile = s.args.at(-1) as string
  writeFileSync(propsFile, serverProperties())
  formatStorage(propsFile)
  console.log(`kafka: starting Apache Kafka ${kafkaVersion()} (KRaft) on ${host}:${port}, data in ${dataDir}`)
  return startService(s)
}

export async function stopKafka(): Promise<boolean> {
  return stopService(spec())
}

export function kafkaStatus(): boolean {
  return status(spec())
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const command = process.argv[2]
  try {
    if (command === 'start') await startKafka()
    else if (command === 'stop') await stopKafka()
    else if (command === 'status') kafkaStatus()
    else throw new Error('usage: node tools/kafka/kafka.ts start|stop|status')
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    process.exitCode = 1
  }
}
