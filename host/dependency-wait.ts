/**
 * Start-up waits for the Kafka cluster: a process started while the broker is unreachable (a broker restart, a
 * cluster that comes up after the pods that use it) waits it out, with a backoff of 500 ms doubling to 5 s and one
 * log line per failed try, and gives up only after `runtime.startTimeoutMs` (FLEXTASK_START_TIMEOUT_MS, default
 * 10 min). Before this, `flextask scheduler|worker|connector|api` exited 1 at once ("Listing topics failed") and
 * relied on a supervisor to start it again (issue 15: the fault suite's broker restart).
 *
 * The probe is a metadata request (listTopics) on an admin client of its own, closed after each try. A failure
 * that is not a Kafka client or protocol error (decideError: not retriable), a refused SASL login or a TLS
 * certificate failure (kafkaSecurityFailure) is not waited out: it is thrown at once, as the component's own start
 * would.
 */
import { ErrorCodes, FlextaskError, kafkaSecurityFailure } from '../errors.ts'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { Logger } from '../logger.ts'
import { decideError } from '../topology/kafka-errors.ts'

export interface StartupProbe {
  /** What is probed, for the log line: `Kafka (127.0.0.1:9092)`. */
  what: string
  /** Resolves when the dependency answers; rejects otherwise. */
  probe(): Promise<void>
}

export interface WaitOptions {
  logger: Logger
  /** Gives up (throws) after this long. */
  timeoutMs: number
  /** Stops waiting (a signal during start-up). */
  signal?: AbortSignal
  /** @default 500 */
  firstDelayMs?: number
  /** @default 5000 */
  maxDelayMs?: number
}

/** The Kafka probe: list the topics with a fresh admin client. */
export function kafkaProbe(kafka: KafkaClientFactory, brokers: readonly string[], clientId: string): StartupProbe {
  return {
    what: `Kafka (${brokers.join(',')})`,
    async probe() {
      const admin = kafka.admin(clientId)
      try {
        await admin.listTopics()
      } finally {
        await admin.close().catch(() => undefined)
      }
    },
  }
}

/** Resolves once `probe` succeeds; retries retriable failures with backoff until `timeoutMs`. */
export async function waitForDependency(probe: StartupProbe, options: WaitOptions): Promise<void> {
  const startedAtMs = Date.now()
  const firstDelayMs = options.firstDelayMs ?? 500
  const maxDelayMs = options.maxDelayMs ?? 5_000
  for (let attempt = 1; ; attempt++) {
    try {
      await probe.probe()
      if (attempt > 1) {
        options.logger.info(
          { dependency: probe.what, attempts: attempt, waitedMs: Date.now() - startedAtMs },
          `${probe.what} reachable; starting`,
        )
      }
      return
    } catch (error) {
      // A refused SASL login or an untrusted certificate is configuration, not an outage: fail at once, naming it
      // (kafka-sasl-ssl.test.ts). Every try would be refused the same way.
      const security = kafkaSecurityFailure(error)
      if (security !== undefined) throw security
      const coded = decideError(error, ErrorCodes.unknown)
      if (!coded.retriable) throw coded
      const waitedMs = Date.now() - startedAtMs
      if (waitedMs >= options.timeoutMs || options.signal?.aborted === true) {
        throw new FlextaskError(
          ErrorCodes.unknown,
          `${probe.what} unreachable for ${Math.round(waitedMs / 1000)} s at start-up (FLEXTASK_START_TIMEOUT_MS ${options.timeoutMs}): ${coded.message}`,
          { cause: error },
        )
      }
      const delayMs = Math.min(maxDelayMs, firstDelayMs * 2 ** Math.min(attempt - 1, 10))
      options.logger.warn(
        {
          dependency: probe.what,
          attempt,
          delayMs,
          giveUpInMs: options.timeoutMs - waitedMs,
          error: coded.message.split('\n')[0],
        },
        `waiting for ${probe.what} at start-up`,
      )
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs)
        options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
      })
    }
  }
}
