/**
 * A Kafka broker of a test file's own (tools/kafka/kafka.ts on `port` and `port + 1`, data in a temp directory),
 * for tests that stop and start the broker: never the shared one, which other tests use at the same moment.
 */
import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const kafkaTool = join(import.meta.dirname, '..', '..', 'tools', 'kafka', 'kafka.ts')

export interface OwnBroker {
  brokers: string[]
  /** Starts or stops the broker (waits until it is ready or gone). */
  command(command: 'start' | 'stop'): void
  /** Stops a leftover broker on the port, wipes its data and starts it fresh. */
  startFresh(): void
  /** Stops the broker and removes its data. */
  remove(): void
}

/** `controllerPort` defaults to `port + 1`; pass one from freePorts() when the port is not fixed. */
export function ownBroker(port: number, name: string, controllerPort = port + 1): OwnBroker {
  const dataDir = join(tmpdir(), `flextask-${name}-kafka-${port}`)
  const env = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controllerPort),
    KAFKA_DATA_DIR: dataDir,
  }
  const command = (c: 'start' | 'stop'): void => {
    const result = spawnSync(process.execPath, [kafkaTool, c], { env, encoding: 'utf8', timeout: 120_000 })
    if (result.status !== 0) throw new Error(`kafka ${c} failed: ${result.stdout}${result.stderr}`)
  }
  return {
    brokers: [`127.0.0.1:${port}`],
    command,
    startFresh: () => {
      command('stop')
      rmSync(dataDir, { recursive: true, force: true })
      command('start')
    },
    remove: () => {
      command('stop')
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
