/**
 * A background Java service owned by this checkout: a PID file, a log file, a port, a readiness probe.
 * Used by tools/kafka and tools/registry so `start` twice is a no-op, `stop` kills by PID, and a busy
 * port or a failed start is reported with its cause and the log file to read.
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface ServiceSpec {
  name: string
  pidFile: string
  logFile: string
  host: string
  port: number
  command: string
  args: string[]
  env?: NodeJS.ProcessEnv
  /** Resolves true once the service answers; called every 500 ms. */
  isReady: () => Promise<boolean>
  readyTimeoutMs: number
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined
  const pid = Number(readFileSync(pidFile, 'utf8').trim())
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export function tail(file: string, lines = 25): string {
  if (!existsSync(file)) return '(no log file)'
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
}

/** Starts the service unless it already runs; returns false when it was already running. */
export async function startService(spec: ServiceSpec): Promise<boolean> {
  const running = readPid(spec.pidFile)
  if (running !== undefined) {
    console.log(`${spec.name}: already running (pid ${running}) on ${spec.host}:${spec.port}`)
    return false
  }
  if (await portInUse(spec.host, spec.port)) {
    throw new Error(
      `${spec.name}: port ${spec.host}:${spec.port} is already in use by another process (not one started ` +
        `from this checkout). Stop that process or choose another port (see README, configuration).`,
    )
  }
  mkdirSync(dirname(spec.logFile), { recursive: true })
  const out = openSync(spec.logFile, 'a')
  const child = spawn(spec.command, spec.args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...spec.env },
  })
  closeSync(out)
  let exited = false
  child.once('exit', () => (exited = true))
  if (child.pid === undefined) throw new Error(`${spec.name}: could not spawn ${spec.command}`)
  writeFileSync(spec.pidFile, `${child.pid}\n`)
  child.unref()
  const startedAt = Date.now()
  const deadline = startedAt + spec.readyTimeoutMs
  while (Date.now() < deadline) {
    if (exited || !isAlive(child.pid)) {
      rmSync(spec.pidFile, { force: true })
      throw new Error(`${spec.name}: the process exited during start. Log: ${spec.logFile}\n${tail(spec.logFile)}`)
    }
    if (await spec.isReady().catch(() => false)) {
      const seconds = ((Date.now() - startedAt) / 1000).toFixed(1)
      console.log(
        `${spec.name}: ready on ${spec.host}:${spec.port} in ${seconds} s (pid ${child.pid}); log: ${spec.logFile}`,
      )
      return true
    }
    await sleep(500)
  }
  await stopService(spec)
  throw new Error(
    `${spec.name}: not ready after ${spec.readyTimeoutMs / 1000} s; stopped it. Log: ${spec.logFile}\n${tail(spec.logFile)}`,
  )
}

/** Stops the service by PID: SIGTERM, then SIGKILL after graceMs. Returns false when nothing ran. */
export async function stopService(spec: Pick<ServiceSpec, 'name' | 'pidFile'>, graceMs = 30_000): Promise<boolean> {
  const pid = readPid(spec.pidFile)
  rmSync(spec.pidFile, { force: true })
  if (pid === undefined) {
    console.log(`${spec.name}: not running`)
    return false
  }
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (isAlive(pid) && Date.now() < deadline) await sleep(200)
  if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  while (isAlive(pid)) await sleep(100)
  console.log(`${spec.name}: stopped (pid ${pid})`)
  return true
}

export function status(spec: Pick<ServiceSpec, 'name' | 'pidFile' | 'host' | 'port'>): boolean {
  const pid = readPid(spec.pidFile)
  if (pid === undefined) console.log(`${spec.name}: not running`)
  else console.log(`${spec.name}: running (pid ${pid}) on ${spec.host}:${spec.port}`)
  return pid !== undefined
}
