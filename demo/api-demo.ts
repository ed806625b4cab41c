/**
 * The API's part of `npm run demo`: starts the API component with a fresh admin key (configured only as its hash)
 * on the demo's read model, and returns the lines the demo prints — the API and docs URLs and CLI commands that
 * work while the demo runs. Without a read model (Postgres unreachable) only what needs none is suggested: `tail`
 * reads Kafka through the API, and a create with `--no-wait` answers once Kafka has it.
 */
import { hashApiKey, newApiKey } from '../api/api-keys.ts'
import { createApi, type ApiComponent, type ApiDeps } from '../api/api.ts'

export interface DemoApi {
  api: ApiComponent
  lines: string[]
}

/** `databaseUrl`: the demo's projection (the sink demo's database), or undefined when there is none. */
export async function startDemoApi(deps: ApiDeps, databaseUrl: string | undefined): Promise<DemoApi> {
  const { key } = newApiKey('demo', 'admin')
  const config = {
    ...deps.config,
    database: { ...deps.config.database, ...(databaseUrl === undefined ? {} : { url: databaseUrl }) },
    api: { ...deps.config.api, keys: `demo:admin:${hashApiKey(key)}`, keysFile: null },
  }
  const api = createApi({ ...deps, config })
  await api.start()
  const cli = `FLEXTASK_API_URL=${api.url} FLEXTASK_API_KEY=${key} node cli/flextask.ts`
  const withReadModel = [
    `  ${cli} tasks create --id hello --category http --type HealthCheck --every 3s`,
    `  ${cli} tasks list`,
    `  ${cli} next hello --count 3`,
    `  ${cli} runs hello`,
  ]
  const withoutReadModel = [`  ${cli} tasks create --category http --type HealthCheck --every 3s --no-wait`]
  return {
    api,
    lines: [
      `api: ${api.url}  (OpenAPI docs: ${api.url}/docs, admin key: ${key})`,
      `dashboard: ${api.url}/ui/  (sign in with the admin key above)`,
      'try, in another terminal:',
      `  ${cli} tail`,
      ...(databaseUrl === undefined ? withoutReadModel : withReadModel),
      `  curl -N -H 'authorization: Bearer ${key}' ${api.url}/api/events/stream`,
    ],
  }
}
