/**
 * Reconnect pacing for the client. Full jitter (AWS's "Exponential Backoff and Jitter",
 * as centrifuge-js does it): each wait is uniform in `[0, min(max, initial · 2^attempt)]`,
 * so a thousand readers cut at once by a hub restart do not come back in lock-step.
 */
import { fullJitter } from '../events/jitter.js'

/** How long the client waits between reconnect attempts. */
export interface BackoffOptions {
  /** The cap of the first wait, in ms. Default 250. */
  initialMs?: number
  /** No wait is ever longer than this, in ms. Default 10 000. */
  maxMs?: number
}

/** The defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: Readonly<Required<BackoffOptions>> = Object.freeze({
  initialMs: 250,
  maxMs: 10_000,
})

/**
 * The wait before reconnect attempt number `attempt` (0 for the first), full jitter:
 * uniform in `[0, min(maxMs, initialMs · 2^attempt)]`.
 *
 * Pure and deterministic given `random`, so tests can check the bounds.
 *
 * @example
 * ```ts
 * backoffDelay(3, { initialMs: 100, maxMs: 1000 }) // somewhere in [0, 800]
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialMs ?? DEFAULT_BACKOFF.initialMs
  return fullJitter(attempt, initial, options.maxMs ?? DEFAULT_BACKOFF.maxMs, random)
}
