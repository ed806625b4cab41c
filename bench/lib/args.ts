/**
 * The preamble every bench/*.ts shares: argument parsing with checked numbers, `--help`, a description of the
 * machine for the report, and a hard stop for a run whose close or broker call hangs. Benchmarks are not tests;
 * these helpers only make their figures comparable and their failures loud.
 */
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'

/** Parses process.argv against `options` (strict: an unknown flag is an error); `--help` prints `usage`. */
export function benchArgs<T extends ParseArgsOptionsConfig>(options: T, usage: string) {
  if (process.argv.slice(2).includes('--help')) {
    console.log(usage)
    process.exit(0)
  }
  return parseArgs({ options, strict: true }).values
}

/** `raw` as a safe integer >= min (underscores allowed: 1_000_000), or an error naming the flag. */
export function integerArg(name: string, raw: string, min = 0): number {
  const n = Number(raw.replaceAll('_', ''))
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`)
  }
  return n
}

/** A comma-separated list of integers >= min, e.g. `--pending 100000,1000000`. */
export function integerListArg(name: string, raw: string, min = 0): number[] {
  return raw.split(',').map((part) => integerArg(name, part.trim(), min))
}

/** Like integerArg, but undefined stays undefined (an optional tuning flag: the component's default applies). */
export function optionalIntegerArg(name: string, raw: string | undefined, min = 0): number | undefined {
  return raw === undefined ? undefined : integerArg(name, raw, min)
}

/** The machine, Node and the Kafka build the figures were taken on, in one line. */
export function environment(brokers: readonly string[]): string {
  let kafkaVersion = 'unknown'
  try {
    const pom = readFileSync(new URL('../../tools/kafka/pom.xml', import.meta.url), 'utf8')
    kafkaVersion = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1] ?? 'unknown'
  } catch {
    // The description stays usable without the Kafka tooling.
  }
  const model = cpus()[0]?.model.trim() ?? 'unknown cpu'
  const memoryGiB = (totalmem() / 2 ** 30).toFixed(1)
  return (
    `Node ${process.version}, Kafka ${kafkaVersion} (${brokers.join(',')}), ` +
    `${availableParallelism()} cores (${model}), ${memoryGiB} GiB RAM`
  )
}

/** Exits with code 2 if the process is still running after `ms`; unref'd, so it never delays a clean exit. */
export function hardStop(ms: number, what: string): void {
  setTimeout(() => {
    console.error(`${what}: FAILED: still running ${Math.round(ms / 1000)} s after start (hard stop)`)
    process.exit(2)
  }, ms).unref()
}

/** An error's message, for a one-line failure report. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** `promise`, or a rejection naming `what` once `ms` pass (a close or cleanup that hangs). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
