/**
 * The one way flextask reaches the Schema Registry: maps the `registry` config section (URL, basic auth, CA) into
 * a RegistryClient, as kafka-clients.ts does for Kafka and `postgresClientOptions` for Postgres.
 *
 *   basic auth  SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD(_FILE), or `https://user:pass@host/…` in the
 *               URL. The credentials move out of the URL into an `Authorization: Basic` header, so the client's
 *               base URL (which its errors quote) never holds the password; fetch also refuses URLs with them.
 *   https       SCHEMA_REGISTRY_CA_FILE adds a CA for the registry's certificate (an undici Agent with
 *               `connect.ca`); host name verification stays on.
 */
import { readFileSync } from 'node:fs'
import { Agent, fetch as undiciFetch } from 'undici'
import type { RegistryConfig } from './config.ts'
import { RegistryClient, type RegistryClientOptions, type RegistryFetch } from './schemas/registry-client.ts'

export interface RegistryConnection {
  /** The URL without credentials. */
  baseUrl: string
  /** `Basic …`, or undefined without credentials. */
  authorization: string | undefined
  fetch: RegistryFetch
}

export function registryConnection(
  registry: RegistryConfig,
  readFile = (path: string) => readFileSync(path, 'utf8'),
): RegistryConnection {
  const url = new URL(registry.url)
  let username = registry.username
  let password = registry.password
  if (url.username !== '' && username === null) {
    username = decodeURIComponent(url.username)
    password = decodeURIComponent(url.password)
  }
  url.username = ''
  url.password = ''
  const authorization =
    username === null ? undefined : `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`
  const dispatcher = registry.caFile === null ? undefined : new Agent({ connect: { ca: readFile(registry.caFile) } })
  const fetch: RegistryFetch = async (target, init) => {
    const headers = new Headers(init.headers)
    if (authorization !== undefined) headers.set('authorization', authorization)
    if (dispatcher === undefined) return globalThis.fetch(target, { ...init, headers })
    const response = await undiciFetch(target, {
      method: init.method,
      headers: Object.fromEntries(headers),
      body: init.body as string | undefined,
      signal: init.signal,
      dispatcher,
    })
    return response
  }
  return { baseUrl: url.toString(), authorization, fetch }
}

export function createRegistryClient(
  registry: RegistryConfig,
  options: Omit<RegistryClientOptions, 'requestTimeoutMs' | 'fetch'> = {},
): RegistryClient {
  const connection = registryConnection(registry)
  return new RegistryClient(connection.baseUrl, {
    ...options,
    requestTimeoutMs: registry.requestTimeoutMs,
    fetch: connection.fetch,
  })
}
