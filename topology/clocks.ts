/**
 * Clocks. The runtime uses the system wall clock; tests use a manual clock they advance explicitly.
 */
import type { Clock } from './api.ts'

export const systemClock: Clock = { nowMs: () => Date.now() }

/** A clock that moves only when told to. It may also step backwards, to test clock-step handling. */
export class ManualClock implements Clock {
  #nowMs: number

  constructor(startMs: number) {
    this.#nowMs = startMs
  }

  nowMs(): number {
    return this.#nowMs
  }

  advance(ms: number): void {
    this.#nowMs += ms
  }

  set(nowMs: number): void {
    this.#nowMs = nowMs
  }
}
