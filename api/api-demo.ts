/**
 * The API part of `npm run demo`: starts the API component with a fresh admin key (kept only as its hash in the
 * component's config) and returns the lines the demo prints — the API and docs URLs and CLI commands that work
 * while the demo runs (`tail` reads Kafka through the API; `--no-wait` answers without the read model).
 */
import { hashApiKey, newApiKey } from './api-keys.ts'
import { createApi, type ApiComponent, type ApiDeps } from './api.ts'

export interface DemoApi {
  api: ApiComponent
  lines: string[]
}

export async function startDemoApi(deps: ApiDeps): Promise<DemoApi> {
  const { key } = newApiKey('demo', 'admin')
  const config = {
    ...deps.config,
    api: { ...deps.config.api, keys: `demo:admin:${hashApiKey(key)}`, keysFile: null },
  }
  const api = createApi({ ...deps, config })
  await api.start()
  const env = `FLEXTASK_API_URL=${api.url} FLEXTASK_API_KEY=${key}`
  return {
    api,
    lines: [
      `api:  ${api.url}  (OpenAPI docs: ${api.url}/docs, key: ${key})`,
      'try, in another terminal:',
      `  ${env} node cli/flextask.ts tail`,
      `  ${env} node cli/flextask.ts tasks create --category http --type request --every 3s --no-wait`,
      `  curl -H 'authorization: Bearer ${key}' ${api.url}/api/events/stream`,
    ],
  }
}
