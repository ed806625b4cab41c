/**
 * `flextask tail`: follows the live events over WebSocket and prints one line per event (or its JSON). When the
 * connection drops it reconnects with the `resume` of the last message, so nothing still on the topics is missed
 * or shown twice; `--resume` continues from an earlier run.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ApiClient } from './api-client.ts'
import { show as txt, type ClientIo } from './client-commands.ts'

export interface TailOptions {
  taskId?: string
  category?: string
  tenant?: string
  resume?: string
  json?: boolean
  /** Stops following (Ctrl-C in the CLI, the end of a test). */
  signal?: AbortSignal
  /** Called with every event message (after it is printed). */
  onEvent?: (event: TailEvent) => void
  /** Called with the resume token after every message, for callers that persist it. */
  onResume?: (resume: string) => void
  /** @default 1000 */
  reconnectDelayMs?: number
}

export interface TailEvent {
  type: 'event'
  kind: string
  taskId: string | null
  category: string | null
  topic: string
  partition: number
  offset: string
  timestampMs: number
  data: Record<string, unknown>
  resume: string
}

/** One line for a human. */
export function describeEvent(e: TailEvent): string {
  const d = e.data
  const at = new Date(e.timestampMs).toISOString().slice(11, 23)
  const base = `${at}  ${e.kind.padEnd(10)} ${String(e.taskId ?? '—').padEnd(24)}`
  if (e.kind === 'fire')
    return `${base} ${txt(d.executionId)} attempt ${txt(d.attempt)} (${txt(d.trigger)}) → ${txt(e.category)}`
  if (e.kind === 'result') {
    const error = (d.error as { message?: string } | null)?.message
    return `${base} ${txt(d.executionId)} attempt ${txt(d.attempt)} ${txt(d.status)}${d.durationMs == null ? '' : ` in ${txt(d.durationMs)} ms`}${error === undefined ? '' : `: ${error}`}`
  }
  if (e.kind === 'occurrence') {
    return `${base} slot ${new Date(Number(d.scheduledForMs)).toISOString()} ${txt(d.outcome)}${d.reason == null ? '' : ` (${txt(d.reason)})`}`
  }
  return `${base} ${txt(d.reasonCode)}: ${txt(d.message)}`
}

/** Follows until the signal aborts; resolves with the last resume token. */
export async function tail(client: ApiClient, io: ClientIo, options: TailOptions): Promise<string | undefined> {
  let resume = options.resume
  const stopped = () => options.signal?.aborted === true
  while (!stopped()) {
    const url = client.eventsUrl({
      taskId: options.taskId,
      category: options.category,
      tenant: options.tenant,
      resume,
      access_token: client.key ?? undefined,
    })
    const closed = await follow(url, io, options, (token) => {
      resume = token
      options.onResume?.(token)
    })
    if (stopped()) break
    io.err(`flextask tail: connection closed (${closed}); reconnecting`)
    await sleep(options.reconnectDelayMs ?? 1000, undefined, { signal: options.signal }).catch(() => undefined)
  }
  return resume
}

function follow(url: string, io: ClientIo, options: TailOptions, onResume: (token: string) => void): Promise<string> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url)
    const abort = () => socket.close(1000, 'done')
    options.signal?.addEventListener('abort', abort, { once: true })
    socket.addEventListener('message', (message: MessageEvent) => {
      const data = JSON.parse(String(message.data)) as { type: string; resume?: string; detail?: string }
      if (data.type === 'error') io.err(`flextask tail: ${data.detail ?? 'error'}`)
      if (data.resume !== undefined) onResume(data.resume)
      if (data.type === 'ready') io.err('flextask tail: following (Ctrl-C stops)')
      if (data.type !== 'event') return
      const event = data as TailEvent
      io.out(options.json === true ? JSON.stringify(event) : describeEvent(event))
      options.onEvent?.(event)
    })
    socket.addEventListener('error', () => undefined)
    socket.addEventListener('close', (event: CloseEvent) => {
      options.signal?.removeEventListener('abort', abort)
      resolve(`${event.code}${event.reason === '' ? '' : ` ${event.reason}`}`)
    })
  })
}
