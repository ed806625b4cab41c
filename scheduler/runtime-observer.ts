/**
 * The scheduler's view of the stream runtime's typed observer port (topology/runtime-events.ts; design review
 * §1.5). Kept as the component's one import of the runtime's events.
 */
import type { RuntimeObserver } from '../topology/runtime-events.ts'
import type { StreamRuntime } from '../topology/stream-runtime.ts'

export type { RuntimeObserver }

export function observeRuntime(runtime: StreamRuntime, observer: RuntimeObserver): () => void {
  return runtime.observe(observer)
}
