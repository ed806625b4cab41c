/**
 * A TCP proxy under a test's control, for Postgres outages: `up` relays, `blackhole` keeps connections open but
 * drops every byte (a query hangs until a timeout), `refuse` resets every connection, open and new.
 */
import net from 'node:net'
import { onCleanup } from './cleanup.ts'

export type ProxyMode = 'up' | 'blackhole' | 'refuse'

export interface TcpProxy {
  port: number
  mode: ProxyMode
  setMode(mode: ProxyMode): void
  /** Connections accepted so far. */
  connections: number
  close(): Promise<void>
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>()
  const proxy: TcpProxy = {
    port: 0,
    mode: 'up',
    connections: 0,
    setMode(mode) {
      proxy.mode = mode
      if (mode === 'refuse') for (const s of sockets) s.resetAndDestroy()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
  const server = net.createServer((client) => {
    proxy.connections++
    if (proxy.mode === 'refuse') {
      client.resetAndDestroy()
      return
    }
    const upstream = net.connect(targetPort, targetHost)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('data', (chunk) => {
      if (proxy.mode === 'up') upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (proxy.mode === 'up') client.write(chunk)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxy.port = (server.address() as net.AddressInfo).port
  onCleanup(() => proxy.close())
  return proxy
}
