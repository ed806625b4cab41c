/**
 * The logger port: a pino-shaped interface. Components receive a Logger and bind their own fields with `child`
 * (component, instanceId, partition, generation). The implementation is chosen by the composition root.
 */
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
