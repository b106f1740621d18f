/**
 * The one back-off of runbus: exponential with full jitter (AWS's "Exponential Backoff and
 * Jitter", as centrifuge-js does it), capped. Work-queue retries, the client's reconnects,
 * the Redis reconnect, the Redis log reader and the inbox retries all wait
 * {@link backoffDelay}; only their defaults differ. Full jitter spreads what failed together
 * (a thousand readers cut by a hub restart, jobs failed by one dependency) instead of sending
 * it back in waves. Pure (no `node:*`), so the browser client can load it.
 *
 * One attempt numbering everywhere: attempt 1 is the first retry (or reconnect), and waits
 * up to `initialMs`.
 */
import { InvalidArgumentError } from './errors.js'
import { checkOptions } from './options.js'

/**
 * Back-off settings: work-queue retries (`rb.work.queue(name, { backoff })`) and the
 * client's reconnects (`client.follow(run, { backoff })`).
 *
 * @example
 * ```ts
 * rb.work.queue('emails', { backoff: { initialMs: 500, maxMs: 30_000 } })
 * ```
 */
export interface BackoffOptions {
  /** The cap of the first wait (attempt 1), in ms. */
  initialMs?: number
  /** No wait is ever longer than this, in ms. */
  maxMs?: number
}

/** Back-off settings with every field given (the defaults, or options after checking). */
export type Backoff = Readonly<Required<BackoffOptions>>

/** The default back-off of work-queue retries: first retry within 1 s, capped at 60 s. */
export const DEFAULT_RETRY_BACKOFF: Backoff = Object.freeze({ initialMs: 1_000, maxMs: 60_000 })

/** The default back-off of the client's reconnects: first within 250 ms, capped at 10 s. */
export const DEFAULT_RECONNECT_BACKOFF: Backoff = Object.freeze({ initialMs: 250, maxMs: 10_000 })

/**
 * The wait before attempt number `attempt` (1 for the first retry or reconnect), full
 * jitter: uniform in `[0, min(maxMs, initialMs · 2^(attempt-1))]`, in whole ms. Attempts
 * below 1 count as 1; the exponent is clamped so the cap holds where `2^n` would overflow.
 *
 * Pure and deterministic given `random`, so tests can check the bounds.
 *
 * @example
 * ```ts
 * backoffDelay(3, { initialMs: 100, maxMs: 1_000 }) // somewhere in [0, 400]
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: Backoff,
  random: () => number = Math.random,
): number {
  const step = Math.min(Math.max(0, attempt - 1), 52)
  const ceiling = Math.min(Math.max(0, options.maxMs), Math.max(0, options.initialMs) * 2 ** step)
  return Math.floor(random() * ceiling)
}

/** The names of the back-off options before they had one meaning across subpaths. */
const RENAMED: Readonly<Record<string, string>> = {
  base: 'initialMs',
  max: 'maxMs',
}

/**
 * Checks a caller's back-off options and fills the missing fields from `defaults`: an
 * unknown name (the old `base` / `max` of work queues included, with the new name as a
 * hint) or a value that is not a finite number of ms, 0 or more, is an
 * `InvalidArgumentError`.
 */
export function resolveBackoff(
  where: string,
  options: BackoffOptions | undefined,
  defaults: Backoff,
): Backoff {
  if (options !== undefined && typeof options === 'object' && options !== null)
    for (const key of Object.keys(options))
      if (Object.prototype.hasOwnProperty.call(RENAMED, key))
        throw new InvalidArgumentError(
          `${where}: unknown option ${JSON.stringify(key)} (renamed ${JSON.stringify(RENAMED[key])}; known: initialMs, maxMs)`,
        )
  checkOptions(where, options, { initialMs: 'number', maxMs: 'number' })
  const initialMs = options?.initialMs ?? defaults.initialMs
  const maxMs = options?.maxMs ?? defaults.maxMs
  for (const [name, value] of [
    ['initialMs', initialMs],
    ['maxMs', maxMs],
  ] as const)
    if (!Number.isFinite(value) || value < 0)
      throw new InvalidArgumentError(
        `${where}: option ${JSON.stringify(name)} must be a finite number of ms, 0 or more (got ${String(value)})`,
      )
  return { initialMs, maxMs }
}
