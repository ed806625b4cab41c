import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../config.ts'
import { createRegistryClient, registryConnection } from '../../registry-connection.ts'
import { createTestCa, type TestCa } from '../helpers/tls.ts'

/** A stand-in registry over https that answers one route and records the Authorization header of each request. */
let ca: TestCa
let otherCa: TestCa
let server: Server
let baseUrl: string
const seen: (string | undefined)[] = []

beforeAll(async () => {
  ca = createTestCa('registry test CA')
  otherCa = createTestCa('unrelated CA')
  const { cert, key } = ca.issue('registry')
  server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (request, response) => {
    seen.push(request.headers.authorization)
    if (request.headers.authorization !== `Basic ${Buffer.from('sr-user:sr pass').toString('base64')}`) {
      response.writeHead(401, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }))
      return
    }
    response.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' })
    response.end(JSON.stringify({ compatibilityLevel: 'BACKWARD' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/apis/ccompat/v7`
})

async function failure(promise: Promise<unknown>): Promise<Error & { context: Record<string, unknown> }> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  )
  if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`)
  return outcome.error as Error & { context: Record<string, unknown> }
}

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  ca.remove()
  otherCa.remove()
})

describe('the Schema Registry over https with basic auth, from config', () => {
  it('sends the configured credentials and trusts the configured CA', async () => {
    const config = resolveConfig({
      SCHEMA_REGISTRY_URL: baseUrl,
      SCHEMA_REGISTRY_USERNAME: 'sr-user',
      SCHEMA_REGISTRY_PASSWORD: 'sr pass',
      SCHEMA_REGISTRY_CA_FILE: ca.caCert,
    })
    await expect(createRegistryClient(config.registry).getCompatibility('s')).resolves.toBe('BACKWARD')
    expect(seen.at(-1)).toBe(`Basic ${Buffer.from('sr-user:sr pass').toString('base64')}`)
  })

  it('takes credentials from the URL but keeps them out of the base URL that errors quote', async () => {
    const url = baseUrl.replace('https://', 'https://sr-user:sr%20pass@')
    const config = resolveConfig({ SCHEMA_REGISTRY_URL: url, SCHEMA_REGISTRY_CA_FILE: ca.caCert })
    const connection = registryConnection(config.registry)
    expect(connection.baseUrl).toBe(baseUrl)
    await expect(createRegistryClient(config.registry).getCompatibility('s')).resolves.toBe('BACKWARD')
  })

  it('fails on a wrong password with the status, and without the password in the message', async () => {
    const config = resolveConfig({
      SCHEMA_REGISTRY_URL: baseUrl,
      SCHEMA_REGISTRY_USERNAME: 'sr-user',
      SCHEMA_REGISTRY_PASSWORD: 'wrong-s3cret',
      SCHEMA_REGISTRY_CA_FILE: ca.caCert,
    })
    const error = await failure(createRegistryClient(config.registry).getCompatibility('s'))
    expect(error.message).toMatch(/answered 401/)
    expect(error.context.status).toBe(401)
    expect(JSON.stringify({ ...error, message: error.message })).not.toContain('wrong-s3cret')
  })

  it('refuses a registry whose certificate another CA signed, and one without a CA file', async () => {
    for (const caFile of [otherCa.caCert, null]) {
      const config = resolveConfig({
        SCHEMA_REGISTRY_URL: baseUrl,
        SCHEMA_REGISTRY_USERNAME: 'sr-user',
        SCHEMA_REGISTRY_PASSWORD: 'sr pass',
        ...(caFile === null ? {} : { SCHEMA_REGISTRY_CA_FILE: caFile }),
      })
      const before = seen.length
      const error = await failure(createRegistryClient(config.registry).getCompatibility('s'))
      expect(error.message).toMatch(/failed/)
      expect(seen.length, 'no request reached the server').toBe(before)
    }
  })
})
