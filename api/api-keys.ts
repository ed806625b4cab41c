/**
 * API keys: who may call what. Keys are stored only as SHA-256 hex digests (of the UTF-8 key), with an id (for
 * logs and the per-key rate limit, never the key) and one scope. Scopes are ordered: `admin` ⊇ `write` ⊇ `read`.
 *
 * Configured as text, one key per entry, `<id>:<scope>:<sha256 hex>`, separated by commas or new lines (from the
 * FLEXTASK_API_KEYS variable or the file FLEXTASK_API_KEYS_FILE). `hashApiKey` (and `flextask api key`) makes a line.
 */
import { createHash, randomBytes } from 'node:crypto'
import { ErrorCodes, FlextaskError } from '../errors.ts'

export const ApiScopes = ['read', 'write', 'admin'] as const
export type ApiScope = (typeof ApiScopes)[number]

export interface ApiKey {
  id: string
  scope: ApiScope
  /** Lower-case hex SHA-256 of the key. */
  sha256: string
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

/** A new random key and the configuration entry that grants it `scope`. */
export function newApiKey(id: string, scope: ApiScope): { key: string; entry: string } {
  const key = `ftk_${randomBytes(24).toString('base64url')}`
  return { key, entry: `${id}:${scope}:${hashApiKey(key)}` }
}

export function scopeAllows(granted: ApiScope, needed: ApiScope): boolean {
  return ApiScopes.indexOf(granted) >= ApiScopes.indexOf(needed)
}

/** Parses `<id>:<scope>:<sha256>` entries; `source` names where they came from in error messages. */
export function parseApiKeys(text: string, source: string): ApiKey[] {
  const keys: ApiKey[] = []
  const entries = text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('#'))
  for (const entry of entries) {
    const [id, scope, sha256, ...rest] = entry.split(':')
    const fail = (why: string) =>
      new FlextaskError(ErrorCodes.config, `${source}: entry ${JSON.stringify(entry.slice(0, 40))} ${why}`, {
        context: { field: source },
      })
    if (rest.length > 0 || id === undefined || scope === undefined || sha256 === undefined) {
      throw fail('must be <id>:<scope>:<sha256 hex>')
    }
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw fail('has an id that is not 1-64 letters, digits, ., _ or -')
    if (!(ApiScopes as readonly string[]).includes(scope)) throw fail(`has scope ${scope}, not read, write or admin`)
    if (!/^[0-9a-fA-F]{64}$/.test(sha256)) throw fail('has a hash that is not 64 hex digits (sha256 of the key)')
    if (keys.some((k) => k.id === id)) throw fail(`repeats the id ${id}`)
    keys.push({ id, scope: scope as ApiScope, sha256: sha256.toLowerCase() })
  }
  return keys
}

/** Looks a presented key up by its digest. */
export class ApiKeyring {
  readonly #byHash: Map<string, ApiKey>

  constructor(keys: readonly ApiKey[]) {
    this.#byHash = new Map(keys.map((k) => [k.sha256, k]))
  }

  get size(): number {
    return this.#byHash.size
  }

  find(presented: string): ApiKey | undefined {
    return this.#byHash.get(hashApiKey(presented))
  }
}
