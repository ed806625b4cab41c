import { describe, expect, it } from 'vitest'
import { coerceError, ErrorCodes, kafkaSecurityFailure } from '../../errors.ts'

/** The shape @platformatic/kafka 2.12 throws (seen on the SASL_SSL test broker): nested AggregateErrors and causes. */
function clientError(leaf: Error): Error {
  const network = new Error('Connection to 10.0.0.7:9093 failed.', { cause: leaf })
  const perAttempt = new AggregateError([network], 'Cannot connect to any broker.')
  return new Error('Listing topics failed.', {
    cause: new AggregateError([perAttempt, perAttempt], 'metadata failed 4 times.'),
  })
}

describe('Kafka security failures', () => {
  it('names a refused SASL login, the broker and the settings to check', () => {
    const refused = Object.assign(new Error('SASL authentication failed.'), { code: 'PLT_KFK_AUTHENTICATION' })
    const protocol = Object.assign(new Error('SASL authentication failed.'), {
      serverErrorMessage: 'Authentication failed: Invalid username or password',
    })
    refused.cause = new AggregateError([protocol], 'Received response with error')
    const coded = coerceError(clientError(refused))
    expect(coded.code).toBe(ErrorCodes.kafkaAuthentication)
    expect(coded.retriable).toBe(false)
    expect(coded.message).toBe(
      'Kafka refused the SASL login at 10.0.0.7:9093: Authentication failed: Invalid username or password; check ' +
        'KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (while: Listing topics failed.)',
    )
  })

  it('names a failed TLS verification with node’s code', () => {
    const tls = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    })
    const coded = coerceError(clientError(tls))
    expect(coded.code).toBe(ErrorCodes.kafkaTls)
    expect(coded.message).toMatch(
      /^TLS to Kafka failed at 10\.0\.0\.7:9093: .*\(ERR_TLS_CERT_ALTNAME_INVALID\); check KAFKA_TLS/,
    )
  })

  it('leaves other failures alone', () => {
    const refusedConnection = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    expect(kafkaSecurityFailure(clientError(refusedConnection))).toBeUndefined()
    expect(coerceError(clientError(refusedConnection)).code).toBe(ErrorCodes.unknown)
    expect(kafkaSecurityFailure('a string')).toBeUndefined()
  })
})
