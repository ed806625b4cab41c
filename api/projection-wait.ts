/**
 * Read your writes: waits until the projection (the sink) has consumed past a position the API produced, so the
 * next GET sees the write. Polls the sink's offsets table; bounded by `timeoutMs`, never longer.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ReadModel } from './read-model.ts'

export interface WaitOptions {
  timeoutMs: number
  /** @default 20 */
  pollMs?: number
}

/** true once the projection's next offset on (topic, partition) is above `offset`; false on timeout. */
export async function waitForProjection(
  readModel: Pick<ReadModel, 'consumedOffset'>,
  position: { topic: string; partition: number; offset: string | bigint },
  options: WaitOptions,
): Promise<boolean> {
  const target = BigInt(position.offset)
  const deadline = performance.now() + options.timeoutMs
  for (;;) {
    const next = await readModel.consumedOffset(position.topic, position.partition)
    if (next !== null && next > target) return true
    const left = deadline - performance.now()
    if (left <= 0) return false
    await sleep(Math.min(options.pollMs ?? 20, left))
  }
}

/** `<partition>:<offset>` → its parts. */
export function parseOffsetToken(token: string): { partition: number; offset: bigint } {
  const [partition, offset] = token.split(':')
  return { partition: Number(partition), offset: BigInt(offset ?? '0') }
}
