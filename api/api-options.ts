/**
 * The API component's options (config.ts resolves them from the environment; tests pass them directly).
 */
import type { ApiKey } from './api-keys.ts'

export interface ApiOptions {
  /** API_HOST to listen on. @default 0.0.0.0 */
  host: string
  /** PORT; 0 picks a free port. @default 3000 */
  port: number
  /** FLEXTASK_API_KEYS / FLEXTASK_API_KEYS_FILE. No key configured = every /api route answers 401. */
  apiKeys: ApiKey[]
  /** FLEXTASK_API_RATE_LIMIT, authenticated requests per key per minute. @default 1200 */
  rateLimitPerMinute: number
  /** FLEXTASK_API_CORS_ORIGINS, comma-separated origins allowed cross-origin; empty = CORS off. @default [] */
  corsOrigins: string[]
  /** FLEXTASK_API_BODY_LIMIT_BYTES, largest request body (413 above). @default 1048576 */
  bodyLimitBytes: number
  /** FLEXTASK_API_WAIT_TIMEOUT_MS, how long a write (or a read with minOffset) waits for the projection. @default 5000 */
  readYourWritesTimeoutMs: number
  /** Known categories and the payload limit: the scheduler's own (topics.categories, scheduler.maxPayloadBytes). */
  categories: string[]
  maxPayloadBytes: number
}

export const defaultApiOptions: ApiOptions = {
  host: '0.0.0.0',
  port: 3000,
  apiKeys: [],
  rateLimitPerMinute: 1200,
  corsOrigins: [],
  bodyLimitBytes: 1_048_576,
  readYourWritesTimeoutMs: 5000,
  categories: ['http', 'email', 'internal', 'kubernetes', 'elasticsearch'],
  maxPayloadBytes: 262_144,
}
