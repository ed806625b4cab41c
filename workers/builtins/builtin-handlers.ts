/**
 * The built-in handlers, ready to register: http/request, email/send, kubernetes/HealthCheck,
 * kubernetes/NodeCheck, elasticsearch/ClusterHealth. (`internal` handlers are registered by name in code:
 * `registry.registerInternal(name, fn)`.) `close()` releases the HTTP connection pools.
 */
import type { Handler } from '../handler.ts'
import { emailSendHandler } from './email-handler.ts'
import { elasticsearchHandler } from './elasticsearch-handler.ts'
import { GuardedHttp } from './http-client.ts'
import { httpRequestHandler } from './http-handler.ts'
import { kubernetesHandlers } from './kubernetes-handlers.ts'
import { type Resolver, type SsrfPolicy, systemResolver } from './ssrf-guard.ts'

export interface BuiltinHandlers {
  handlers: Handler[]
  close(): Promise<void>
}

export function builtinHandlers(ssrf: SsrfPolicy, resolve: Resolver = systemResolver): BuiltinHandlers {
  const http = new GuardedHttp(ssrf, resolve)
  return {
    handlers: [
      httpRequestHandler(http),
      emailSendHandler(ssrf, resolve),
      ...kubernetesHandlers(http),
      elasticsearchHandler(http),
    ],
    close: () => http.close(),
  }
}
