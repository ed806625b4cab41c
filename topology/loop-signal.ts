/**
 * The loop's wake-up: the loop sleeps in `wait` until a timer is due or something happened (records arrived,
 * a join, a task became running, an error, close()); every such event calls `notify`. A notify while the
 * loop is not waiting is not remembered: the loop re-checks its state at the start of every pass, and
 * `wait` does not sleep when the caller says there is something to do.
 */
export class LoopSignal {
  #wake: (() => void) | undefined

  notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  /** Sleeps up to `ms` or until notified; returns at once when `skip()` is true. */
  async wait(ms: number, skip: () => boolean = () => false): Promise<void> {
    if (skip()) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined
        resolve()
      }, ms)
      this.#wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
