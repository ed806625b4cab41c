/**
 * Concurrency and rate limits of one worker process, per category, per type (`category/type`) and per tenant.
 *
 * An execution may start only when every rule that applies to it has room: a free concurrency slot and a token in
 * its bucket, for its category, its type and its tenant, plus a free slot of the process-wide concurrency. Either
 * all are taken at once or none (no partial acquisition, so a blocked execution holds nothing). A limited
 * execution is never dropped or failed: it waits in the dispatch queue (see dispatcher.ts) and `tryAcquire` says
 * when a token will be there. Its deadline still counts: one that waits past it is reported TIMED_OUT unstarted.
 *
 * Token bucket: `ratePerSecond` tokens are added continuously up to `burst` (default: max(1, ratePerSecond)); a
 * start takes one token. Limits are per worker process: N workers of a category together allow N × the rate
 * (there is no cluster-wide state; partitions spread the load across the group).
 */

export interface LimitRule {
  /** Executions running at once under this rule. @default unlimited */
  concurrency?: number
  /** Starts per second (token bucket refill). @default unlimited */
  ratePerSecond?: number
  /** Bucket size: starts allowed at once after a quiet period. @default max(1, ratePerSecond) */
  burst?: number
}

export interface WorkerLimits {
  /** Executions running at once in this process, over every category. @default 16 */
  concurrency: number
  /**
   * Slots of `concurrency` only executions with priority >= highPriorityThreshold may take, so a high-priority
   * execution starts while long low-priority ones occupy the rest. @default 0
   */
  reservedForHighPriority: number
  /** @default 10 */
  highPriorityThreshold: number
  /** Rules by category, e.g. `{ http: { ratePerSecond: 50 } }`. */
  perCategory: Record<string, LimitRule>
  /** Rules by `category/type`, e.g. `{ 'http/request': { concurrency: 4 } }`. */
  perType: Record<string, LimitRule>
  /** Rules by tenant; `'*'` applies to every tenant separately (each gets its own bucket and slots). */
  perTenant: Record<string, LimitRule>
}

export const defaultLimits: WorkerLimits = {
  concurrency: 16,
  reservedForHighPriority: 0,
  highPriorityThreshold: 10,
  perCategory: {},
  perType: {},
  perTenant: {},
}

export interface Limited {
  category: string
  type: string
  tenant: string | null
  priority: number
}

export type Acquire = { ok: true; release: () => void } | { ok: false; retryAtMs: number | undefined }

class TokenBucket {
  readonly ratePerSecond: number
  readonly burst: number
  #tokens: number
  #lastMs: number

  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    this.ratePerSecond = ratePerSecond
    this.burst = burst
    this.#tokens = burst
    this.#lastMs = nowMs
  }

  /** When a token is (or will be) available, refilling up to nowMs first. */
  availableAtMs(nowMs: number): number {
    this.#tokens = Math.min(this.burst, this.#tokens + ((nowMs - this.#lastMs) * this.ratePerSecond) / 1000)
    this.#lastMs = nowMs
    if (this.#tokens >= 1) return nowMs
    return nowMs + Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSecond)
  }

  take(): void {
    this.#tokens -= 1
  }
}

interface RuleState {
  rule: LimitRule
  running: number
  bucket: TokenBucket | undefined
}

export class Limiter {
  readonly #limits: WorkerLimits
  readonly #states = new Map<string, RuleState>()
  #running = 0

  constructor(limits: WorkerLimits) {
    this.#limits = limits
  }

  get running(): number {
    return this.#running
  }

  /** Takes a slot and a token from every applicable rule, or none and says when to try again. */
  tryAcquire(item: Limited, nowMs: number): Acquire {
    const free = this.#limits.concurrency - this.#running
    const reserved = item.priority >= this.#limits.highPriorityThreshold ? 0 : this.#limits.reservedForHighPriority
    if (free - reserved <= 0) return { ok: false, retryAtMs: undefined }
    const states = this.#statesFor(item, nowMs)
    let retryAtMs: number | undefined
    let blocked = false
    for (const s of states) {
      if (s.rule.concurrency !== undefined && s.running >= s.rule.concurrency) blocked = true
      const at = s.bucket?.availableAtMs(nowMs)
      if (at !== undefined && at > nowMs) {
        blocked = true
        retryAtMs = Math.max(retryAtMs ?? 0, at)
      }
    }
    if (blocked) return { ok: false, retryAtMs }
    for (const s of states) {
      s.running++
      s.bucket?.take()
    }
    this.#running++
    let released = false
    return {
      ok: true,
      release: () => {
        if (released) return
        released = true
        this.#running--
        for (const s of states) s.running--
      },
    }
  }

  #statesFor(item: Limited, nowMs: number): RuleState[] {
    const out: RuleState[] = []
    const add = (key: string, rule: LimitRule | undefined): void => {
      if (rule === undefined) return
      let state = this.#states.get(key)
      if (state === undefined) {
        const rate = rule.ratePerSecond
        const bucket =
          rate !== undefined && rate > 0 ? new TokenBucket(rate, rule.burst ?? Math.max(1, rate), nowMs) : undefined
        state = { rule, running: 0, bucket }
        this.#states.set(key, state)
      }
      out.push(state)
    }
    add(`category:${item.category}`, this.#limits.perCategory[item.category])
    add(`type:${item.category}/${item.type}`, this.#limits.perType[`${item.category}/${item.type}`])
    const tenant = item.tenant ?? ''
    add(`tenant:${tenant}`, this.#limits.perTenant[tenant] ?? this.#limits.perTenant['*'])
    return out
  }
}
