/**
 * A throwaway PostgreSQL server with SSL on, for TLS tests: `initdb` of the machine's PostgreSQL binaries
 * (PG_BIN, default /usr/lib/postgresql/15/bin) into a temp directory, a server certificate from a test CA, and a
 * pg_hba.conf that accepts only `hostssl` connections (trust), so a plaintext client is refused. initdb refuses
 * to run as root, so as root the server runs as the `postgres` user (runuser). Stopped with SIGINT (fast
 * shutdown) and the directory removed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { waitFor } from './kafka.ts'
import type { TestCa } from './tls.ts'

/** PG_BIN, else the newest /usr/lib/postgresql/<major>/bin (Debian's layout; 15 on the development box). */
const pgBin =
  process.env.PG_BIN ??
  (existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)[0]
    : undefined) ??
  '/usr/lib/postgresql/15/bin'

export interface TlsPostgres {
  port: number
  stop(): Promise<void>
}

function asPostgresUser(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]
}

export async function startTlsPostgres(options: {
  port: number
  ca: TestCa
  serverAltNames: string
}): Promise<TlsPostgres> {
  if (await portAnswers(options.port))
    throw new Error(`port ${options.port} is in use (a server left by an interrupted run?); stop it first`)
  const dir = mkdtempSync(join(tmpdir(), 'ft-prod-pg-'))
  const data = join(dir, 'data')
  const { cert, key } = options.ca.issue('postgres-server', options.serverAltNames)
  copyFileSync(cert, join(dir, 'server.crt'))
  copyFileSync(key, join(dir, 'server.key'))
  chmodSync(join(dir, 'server.key'), 0o600)
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir])
  const [initdb, initArgs] = asPostgresUser(join(pgBin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
  ])
  execFileSync(initdb, initArgs, { stdio: ['ignore', 'ignore', 'pipe'] })
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n')
  const [postgres, args] = asPostgresUser(join(pgBin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(options.port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'ssl=on',
    '-c',
    `ssl_cert_file=${join(dir, 'server.crt')}`,
    '-c',
    `ssl_key_file=${join(dir, 'server.key')}`,
    '-c',
    'fsync=off',
    '-c',
    'shared_buffers=16MB',
  ])
  const child: ChildProcess = spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      // The postmaster itself (runuser does not forward signals): SIGINT is a fast shutdown.
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
      process.kill(Number.isInteger(postmaster) && postmaster > 0 ? postmaster : (child.pid as number), 'SIGINT')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitFor(
      `postgres with SSL on port ${options.port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`postgres exited: ${log}`)
        const client = new pg.Client({
          host: '127.0.0.1',
          port: options.port,
          user: 'postgres',
          ssl: { rejectUnauthorized: false },
        })
        try {
          await client.connect()
          return true
        } finally {
          await client.end().catch(() => {})
        }
      },
      30_000,
    )
  } catch (error) {
    await stop()
    throw error
  }
  return { port: options.port, stop }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
