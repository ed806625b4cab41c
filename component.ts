/**
 * The shape of every deployable (scheduler, worker, connector, api): a factory `createX(deps)` returns a
 * Component. `flextask up` starts components in dependency order and closes them in reverse; `/health/*` and the
 * dashboard read `health()`.
 *
 * Contract:
 * - `start()` resolves when the component serves (the scheduler: every assigned task restored); it rejects with a
 *   coded FlextaskError when it cannot, and leaves nothing open behind it.
 * - `close()` is idempotent, may be called concurrently (every caller awaits the same close), and releases every
 *   client, store and lock also after a fatal error.
 * - `health()` is cheap and synchronous: live = the process should not be restarted; ready = it does its job now.
 *   `reasons` says why not, in words an operator can act on.
 */
export interface Health {
  live: boolean
  ready: boolean
  reasons: string[]
}

export interface Component {
  readonly name: string
  start(): Promise<void>
  close(): Promise<void>
  health(): Health
  /** Called once with the error that stopped the component on its own (not by close()). */
  onFatal?(listener: (error: Error) => void): void
}
