/**
 * A typed view of the stream runtime's events: the callbacks the runtime's typed observer port will offer
 * (onAssigned, onRestored, onCommitted, onAborted, onFatal; design review §1.5). Until that port lands in
 * topology/, this adapter subscribes to the runtime's EventEmitter events and calls them; the component code
 * does not change when it does.
 */
import type { OutputRecord } from '../topology/stream-task.ts'
import type { StreamRuntime } from '../topology/stream-runtime.ts'

export interface RuntimeObserver {
  onAssigned?(event: { generation: number; partitions: number[] }): void
  onRestored?(event: { partition: number; records: number; durationMs: number }): void
  onCommitted?(event: { records: number; tasks: number; durationMs: number; outputs: readonly OutputRecord[] }): void
  onAborted?(event: { error: unknown }): void
  onFatal?(error: Error): void
}

export function observeRuntime(runtime: StreamRuntime, observer: RuntimeObserver): void {
  runtime.on('assigned', (event: { generation: number; partitions: number[] }) => observer.onAssigned?.(event))
  runtime.on('restored', (event: { partition: number; records: number; durationMs: number }) =>
    observer.onRestored?.(event),
  )
  runtime.on(
    'committed',
    (event: { records: number; tasks: number; durationMs: number; outputs?: readonly OutputRecord[] }) =>
      observer.onCommitted?.({ ...event, outputs: event.outputs ?? [] }),
  )
  runtime.on('aborted', (error: unknown) => observer.onAborted?.({ error }))
  // Always listen: an EventEmitter throws an 'error' nobody listens to.
  runtime.on('error', (error: Error) => observer.onFatal?.(error))
}
