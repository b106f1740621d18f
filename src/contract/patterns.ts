/**
 * Channel names and subscription patterns of the bus, and the matcher every backend uses
 * so that `*` and `>` mean exactly the same thing everywhere.
 *
 * - A channel is 1–256 characters of dot-separated, non-empty segments; no whitespace and
 *   none of `* > ? [ ] \` (the last four are Redis glob characters: forbidding them lets a
 *   Redis backend map patterns to PSUBSCRIBE without escaping).
 * - A pattern is a channel whose segments may be `*` (exactly one segment) and whose last
 *   segment may be `>` (one or more segments).
 */
import { InvalidArgumentError } from '../events/errors.js'

const SEGMENT = /^[^\s.*>?[\]\\]+$/
const MAX_LENGTH = 256

/**
 * Checks a channel name for publishing.
 *
 * @throws InvalidArgumentError when empty, too long, with an empty segment or a wildcard.
 * @example
 * ```ts
 * checkChannel('orders.created') // ok
 * checkChannel('orders.*')       // throws
 * ```
 */
export function checkChannel(channel: unknown): string {
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > MAX_LENGTH) {
    throw new InvalidArgumentError(
      `channel must be a non-empty string of at most ${MAX_LENGTH} characters, got ${JSON.stringify(channel)}`,
    )
  }
  for (const seg of channel.split('.')) {
    if (!SEGMENT.test(seg)) {
      throw new InvalidArgumentError(
        `invalid channel ${JSON.stringify(channel)}: segments are dot-separated, non-empty, without whitespace or * > ? [ ] \\`,
      )
    }
  }
  return channel
}

/**
 * Checks a subscription pattern.
 *
 * @throws InvalidArgumentError when malformed (`>` not last, `a*` mixing, empty segment…).
 * @example
 * ```ts
 * checkPattern('orders.*.created') // ok
 * checkPattern('orders.>')         // ok
 * ```
 */
export function checkPattern(pattern: unknown): string {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_LENGTH) {
    throw new InvalidArgumentError(
      `pattern must be a non-empty string of at most ${MAX_LENGTH} characters, got ${JSON.stringify(pattern)}`,
    )
  }
  const segs = pattern.split('.')
  segs.forEach((seg, i) => {
    if (seg === '*') return
    if (seg === '>' && i === segs.length - 1) return
    if (!SEGMENT.test(seg)) {
      throw new InvalidArgumentError(
        `invalid pattern ${JSON.stringify(pattern)}: segments are names, '*' (one segment) or a final '>' (the rest)`,
      )
    }
  })
  return pattern
}

/**
 * Whether a pattern contains a wildcard.
 *
 * @example
 * ```ts
 * isWildcard('a.*') // true
 * ```
 */
export function isWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('>')
}

/**
 * Compiles a (checked) pattern into a fast matcher. Use it to filter channels delivered by a
 * backend whose native patterns are broader (Redis globs: `*` also matches dots).
 *
 * @example
 * ```ts
 * const m = compilePattern('a.*.c')
 * m('a.b.c') // true
 * m('a.b.x.c') // false
 * ```
 */
export function compilePattern(pattern: string): (channel: string) => boolean {
  if (!isWildcard(pattern)) return (channel) => channel === pattern
  const segs = pattern.split('.')
  const rest = segs[segs.length - 1] === '>'
  const fixed = rest ? segs.length - 1 : segs.length
  return (channel) => {
    const parts = channel.split('.')
    if (rest ? parts.length <= fixed : parts.length !== fixed) return false
    for (let i = 0; i < fixed; i++) {
      const s = segs[i]
      if (s !== '*' && s !== parts[i]) return false
    }
    return true
  }
}

/**
 * Whether `channel` matches `pattern` (both as the bus defines them).
 *
 * @example
 * ```ts
 * matchPattern('a.>', 'a.b.c') // true
 * matchPattern('a.>', 'a')     // false: '>' needs at least one segment
 * ```
 */
export function matchPattern(pattern: string, channel: string): boolean {
  return compilePattern(pattern)(channel)
}
