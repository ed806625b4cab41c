/**
 * Free TCP ports on 127.0.0.1, for a server a suite starts itself whose port must be known before it starts (a
 * broker of its own: listener and controller; a Postgres of its own). Fixed ports made two suites, or two
 * engineers' runs of one suite, collide on one machine. The ports are bound at once (so they differ) and released
 * just before use: another process could still take one in between, which is unlikely, not impossible — a server
 * that can listen on port 0 itself should do that instead.
 */
import { createServer, type Server } from 'node:net'

export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', resolve)
      })
    }
    return servers.map((s) => (s.address() as { port: number }).port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1)
  return port!
}
