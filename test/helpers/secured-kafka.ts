/**
 * A broker of the test's own whose client listener is SASL_SSL (tools/kafka/kafka.ts with KAFKA_TLS_DIR and
 * KAFKA_SASL_USERS): certificates
 * from a throwaway CA (helpers/tls.ts, subjectAltName IP 127.0.0.1 only), PLAIN users and SCRAM-SHA-512
 * credentials stored when its fresh data directory is formatted. Started and stopped through the tool's CLI, as
 * a user would, on ports the caller picks (unique per suite); the shared broker is never touched.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createTestCa, type TestCa } from './tls.ts'

const tool = fileURLToPath(new URL('../../tools/kafka/kafka.ts', import.meta.url))
const run = promisify(execFile)

export interface SecuredBroker {
  /** host:port of the SASL_SSL listener. */
  saslSslBroker: string
  /** The CA that signed the broker's certificate (KAFKA_TLS_CA_FILE). */
  caFile: string
  ca: TestCa
  stop(): Promise<void>
}

export async function startSecuredBroker(options: {
  port: number
  controllerPort: number
  users: Record<string, string>
}): Promise<SecuredBroker> {
  const ca = createTestCa('flextask broker test CA')
  // The certificate names 127.0.0.1 only: `localhost` is a name it does not cover (host name verification tests).
  const { cert, key } = ca.issue('broker', 'IP:127.0.0.1')
  const tlsDir = join(ca.dir, 'broker-tls')
  mkdirSync(tlsDir)
  writeFileSync(join(tlsDir, 'server.pem'), readFileSync(key, 'utf8') + readFileSync(cert, 'utf8'))
  copyFileSync(ca.caCert, join(tlsDir, 'ca.pem'))
  const env = {
    ...process.env,
    KAFKA_PORT: String(options.port),
    KAFKA_CONTROLLER_PORT: String(options.controllerPort),
    KAFKA_DATA_DIR: join(ca.dir, 'kafka-data'),
    KAFKA_TLS_DIR: tlsDir,
    KAFKA_SASL_USERS: Object.entries(options.users)
      .map(([name, password]) => `${name}:${password}`)
      .join(','),
    KAFKA_HEAP: '384m',
  }
  // A broker left on this port by an interrupted run of this suite would have other certificates.
  await run(process.execPath, [tool, 'stop'], { env })
  const started = await run(process.execPath, [tool, 'start'], { env })
  console.log(started.stdout.trim())
  return {
    saslSslBroker: `127.0.0.1:${options.port}`,
    caFile: ca.caCert,
    ca,
    stop: async () => {
      await run(process.execPath, [tool, 'stop'], { env })
      ca.remove()
    },
  }
}
