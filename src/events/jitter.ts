/**
 * Exponential back-off with full jitter (AWS's "Exponential Backoff and Jitter"): the one
 * formula behind the client's reconnect pacing and the work queue's retries. Pure (no
 * `node:*`), so the browser client can load it.
 */

/**
 * A wait uniform in `[0, min(max, first · 2^step)]`, in whole ms. `step` 0 is the first
 * wait; it is clamped to `[0, 52]` so the cap holds where `2^step` would overflow.
 *
 * @example
 * ```ts
 * fullJitter(3, 100, 1_000) // somewhere in [0, 800]
 * ```
 */
export function fullJitter(
  step: number,
  first: number,
  max: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(
    Math.max(0, max),
    Math.max(0, first) * 2 ** Math.min(Math.max(0, step), 52),
  )
  return Math.floor(random() * ceiling)
}
