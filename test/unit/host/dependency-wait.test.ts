import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../../errors.ts'
import { waitForDependency, type StartupProbe } from '../../../host/dependency-wait.ts'
import { silentLogger } from '../../../logger.ts'

/** The shape @platformatic/kafka 2.12 throws when a broker is unreachable or refuses: nested causes. */
function clientError(leaf: Error): Error {
  const network = new Error('Connection to 127.0.0.1:9092 failed.', { cause: leaf })
  const perAttempt = new AggregateError([network], 'Cannot connect to any broker.')
  return new Error('Listing topics failed.', {
    cause: Object.assign(new AggregateError([perAttempt], 'metadata failed 4 times.'), { code: 'PLT_KFK_MULTIPLE' }),
  })
}

function failing(errors: Error[]): StartupProbe & { tries: number } {
  const probe = {
    what: 'Kafka (127.0.0.1:9092)',
    tries: 0,
    probe: (): Promise<void> => {
      const error = errors[probe.tries++]
      return error === undefined ? Promise.resolve() : Promise.reject(error)
    },
  }
  return probe
}

const options = { logger: silentLogger, timeoutMs: 5_000, firstDelayMs: 1, maxDelayMs: 2 }

describe('start-up wait for Kafka', () => {
  it('waits out an unreachable broker and resolves once it answers', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'PLT_KFK_NETWORK' })
    const probe = failing([clientError(refused), clientError(refused)])
    await waitForDependency(probe, options)
    expect(probe.tries).toBe(3)
  })

  it('fails at once on a refused SASL login, naming it (configuration, not an outage)', async () => {
    const login = Object.assign(new Error('SASL authentication failed.'), { code: 'PLT_KFK_AUTHENTICATION' })
    const probe = failing([clientError(login), clientError(login)])
    await expect(waitForDependency(probe, options)).rejects.toMatchObject({ code: ErrorCodes.kafkaAuthentication })
    expect(probe.tries).toBe(1)
  })

  it('fails at once on an untrusted broker certificate', async () => {
    const tls = Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    })
    const probe = failing([clientError(tls), clientError(tls)])
    await expect(waitForDependency(probe, options)).rejects.toMatchObject({ code: ErrorCodes.kafkaTls })
    expect(probe.tries).toBe(1)
  })
})
