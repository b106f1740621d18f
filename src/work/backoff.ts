/**
 * Retry back-off: exponential with full jitter (AWS's "full jitter"), capped. Full jitter
 * spreads the retries of jobs that failed together (a dependency went down) instead of
 * sending them back in waves.
 */
import { fullJitter } from '../events/jitter.js'

/** Back-off settings of a work queue. */
export interface BackoffOptions {
  /** The first retry waits up to this long, in ms (default 1 000). */
  base?: number
  /** No retry waits longer than this, in ms (default 60 000). */
  max?: number
}

/** The default back-off: base 1 s, capped at 60 s. */
export const DEFAULT_BACKOFF: Required<BackoffOptions> = { base: 1_000, max: 60_000 }

/**
 * How long to wait before retrying after failed attempt number `attempt` (1-based):
 * a uniformly random time in `[0, min(max, base · 2^(attempt-1))]`.
 *
 * @example
 * ```ts
 * backoffDelay(3, { base: 1000, max: 60000 }) // somewhere in [0, 4000]
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  return fullJitter(
    attempt - 1,
    options.base ?? DEFAULT_BACKOFF.base,
    options.max ?? DEFAULT_BACKOFF.max,
    random,
  )
}
