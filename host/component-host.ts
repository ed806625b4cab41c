/**
 * Runs components in one process: starts them one after another in dependency order (each start() resolves when
 * that component serves), serves the ops endpoints meanwhile, and stops them in reverse order when asked (a
 * signal) or when one fails. Closing is bounded by the shutdown grace period: what has not closed by then is
 * reported and the process exits non-zero (its supervisor restarts it; Kafka fences what was left open).
 *
 * `run()` resolves with the outcome: exit code 0 after a requested stop that closed everything in time, 1 after a
 * fatal error, a failed start or a close past the grace period, with a one-line reason.
 */
import type { Component, Health } from '../component.ts'
import { coerceError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Metrics } from '../metrics.ts'
import { type StartupProbe, waitForDependency } from './dependency-wait.ts'
import { type OpsServer, startOpsServer } from './ops-server.ts'

export interface HostOutcome {
  exitCode: 0 | 1
  reason: string
}

export interface ComponentHostOptions {
  /** In dependency order: each starts after the previous one serves, and closes before it. */
  components: readonly Component[]
  logger: Logger
  metrics: Pick<Metrics, 'render'>
  /** Where /metrics and /health/* listen; undefined = no ops server. */
  ops?: { port: number; host: string }
  shutdownGraceMs: number
  /** Waited for, one after the other, before the first component starts (dependency-wait.ts). @default [] */
  startupProbes?: readonly StartupProbe[]
  /** How long the probes may wait in all before the start fails. @default 600000 */
  startTimeoutMs?: number
}

export class ComponentHost {
  readonly #options: ComponentHostOptions
  readonly #logger: Logger
  readonly #started: Component[] = []
  #ops: OpsServer | undefined
  #stopping: Promise<HostOutcome> | undefined
  readonly #stopSignal = new AbortController()
  #resolveStopped: ((outcome: HostOutcome) => void) | undefined
  readonly #stopped: Promise<HostOutcome>

  constructor(options: ComponentHostOptions) {
    this.#options = options
    this.#logger = options.logger
    this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve))
  }

  /** The port of the ops endpoints once run() bound it. */
  get opsPort(): number | undefined {
    return this.#ops?.port
  }

  health(): Record<string, Health> {
    return Object.fromEntries(this.#options.components.map((c) => [c.name, c.health()]))
  }

  /** Starts everything and resolves when the process should exit. */
  async run(): Promise<HostOutcome> {
    const { ops, components } = this.#options
    try {
      if (ops !== undefined) {
        this.#ops = await startOpsServer(
          { metrics: this.#options.metrics, health: () => this.health() },
          {
            ...ops,
            logger: this.#logger,
          },
        )
      }
      const timeoutMs = this.#options.startTimeoutMs ?? 600_000
      try {
        for (const probe of this.#options.startupProbes ?? []) {
          await waitForDependency(probe, { logger: this.#logger, timeoutMs, signal: this.#stopSignal.signal })
        }
      } catch (error) {
        // Nothing started yet: the components that could not start are the ones waiting for the dependency.
        if (this.#stopping === undefined) {
          void this.stop(`${components.map((c) => c.name).join(', ')} could not start: ${oneLine(error)}`, 1)
        }
        return this.#stopped
      }
      for (const component of components) {
        if (this.#stopping !== undefined) break
        component.onFatal?.((error) => {
          const reason = `${component.name} failed: ${oneLine(error)}`
          void this.stop(reason, 1)
        })
        this.#started.push(component)
        await component.start()
        this.#logger.info({ component: component.name }, 'component serving')
      }
      if (this.#stopping === undefined) {
        this.#logger.info({ components: components.map((c) => c.name), opsPort: this.opsPort }, 'serving')
      }
    } catch (error) {
      // A start that fails because a stop (signal) closed the component is not a failure of its own.
      if (this.#stopping === undefined) {
        const failed = this.#started.at(-1)?.name ?? (this.#ops === undefined ? 'ops server' : 'the process')
        void this.stop(`${failed} could not start: ${oneLine(error)}`, 1)
      }
    }
    return this.#stopped
  }

  /** Closes every started component in reverse order, within the grace period. Idempotent. */
  stop(reason: string, exitCode: 0 | 1 = 0): Promise<HostOutcome> {
    this.#stopSignal.abort()
    this.#stopping ??= this.#stop(reason, exitCode).then((outcome) => {
      this.#resolveStopped?.(outcome)
      return outcome
    })
    return this.#stopping
  }

  async #stop(reason: string, exitCode: 0 | 1): Promise<HostOutcome> {
    const graceMs = this.#options.shutdownGraceMs
    if (exitCode === 0) this.#logger.info({ graceMs }, `stopping: ${reason}`)
    else this.#logger.error({ graceMs }, `stopping: ${reason}`)
    const pending = new Set(this.#started.map((c) => c.name))
    const closing = (async () => {
      for (const component of [...this.#started].reverse()) {
        await component
          .close()
          .catch((error: unknown) =>
            this.#logger.warn({ err: coerceError(error), component: component.name }, 'close failed'),
          )
        pending.delete(component.name)
        this.#logger.info({ component: component.name }, 'component closed')
      }
    })()
    let timer: NodeJS.Timeout | undefined
    const inTime = await Promise.race([
      closing.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ])
    clearTimeout(timer)
    await this.#ops?.close()
    if (!inTime) {
      const outcome: HostOutcome = {
        exitCode: 1,
        reason: `${reason}; not closed within ${graceMs} ms: ${[...pending].reverse().join(', ')}`,
      }
      this.#logger.error(outcome.reason)
      return outcome
    }
    this.#logger.info({ exitCode }, 'stopped')
    return { exitCode, reason }
  }
}

/**
 * The first line of an error's message, with its code and, when it differs, the innermost cause (client errors
 * nest: "Listing topics failed" ← … ← "SASL authentication failed."): what an operator reads in the supervisor's log.
 */
export function oneLine(error: unknown): string {
  const coded = coerceError(error)
  const first = (message: string): string => message.split('\n')[0] ?? ''
  const root = first(innermostMessage(error))
  const line = `${coded.code}: ${first(coded.message)}`
  return root === first(coded.message) ? line : `${line} (cause: ${root})`
}

/** The message at the end of the first chain of `cause` / AggregateError `errors`. */
function innermostMessage(error: unknown, depth = 0): string {
  const e = error as { message?: unknown; cause?: unknown; errors?: unknown } | null | undefined
  const next = Array.isArray(e?.errors) && e.errors.length > 0 ? (e.errors[0] as unknown) : e?.cause
  if (depth < 16 && next instanceof Error) return innermostMessage(next, depth + 1)
  return typeof e?.message === 'string' ? e.message : String(error)
}
