/**
 * The logger port: a pino-shaped interface. Components receive a Logger and bind their own fields with `child`
 * (component, instanceId, partition, generation). The implementation is chosen by the composition root:
 * `createLogger` below (pino), or `silentLogger`. Errors go under `err`: `logger.warn({ err }, 'what failed')`.
 */
import pino from 'pino'
import pinoPretty from 'pino-pretty'

export interface LogFn {
  (message: string): void
  (fields: Record<string, unknown>, message?: string): void
}

export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  child(bindings: Record<string, unknown>): Logger
}

/** A logger that drops everything: for library use and tests that assert on other things. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
}

export interface LoggerOptions {
  /** Lowest level written. @default info */
  level?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
  /** Human-readable lines (pino-pretty) instead of JSON; `auto` = when stdout is a terminal. @default auto */
  pretty?: boolean | 'auto'
  /** Fields on every line, e.g. `{ instanceId }`. */
  base?: Record<string, unknown>
  /** Where JSON lines go. @default stdout */
  destination?: NodeJS.WritableStream
}

/**
 * The pino implementation: JSON lines on stdout (one object per line, `level` as a label, `time` in epoch ms,
 * errors under `err` with their stack, `code` and cause), or pino-pretty in a terminal. Synchronous writes, so
 * the last lines before a fatal exit are not lost.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty === 'auto' || options.pretty === undefined ? process.stdout.isTTY : options.pretty
  const destination = pretty
    ? pinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true })
    : (options.destination ?? pino.destination({ fd: 1, sync: true }))
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.errWithCause },
    },
    destination,
  )
}
