/**
 * Argument helpers shared by the `runbus` commands: durations, hub URL and token defaults,
 * and the error a command exits with.
 */
import { InvalidArgumentError } from '../events/errors.js'

/** Default hub URL: `RUNBUS_URL`, else the local `runbus serve`. */
export function defaultUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.RUNBUS_URL ?? 'http://127.0.0.1:8787'
}

/**
 * Parses a duration: seconds (`3600`) or with a unit (`90s`, `15m`, `12h`, `7d`).
 *
 * @example
 * ```ts
 * parseDuration('12h') // 43200
 * ```
 */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/.exec(text.trim())
  if (!m)
    throw new InvalidArgumentError(
      `${JSON.stringify(text)} is not a duration (e.g. 3600, 90s, 15m, 12h, 7d)`,
    )
  const n = Number(m[1])
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd']
  const seconds = Math.round(n * unit)
  if (seconds <= 0) throw new InvalidArgumentError('the duration must be positive')
  return seconds
}

/** A port number, or an error. */
export function parsePort(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`${JSON.stringify(text)} is not a port`)
  return n
}

/** Thrown by a command for a usage mistake: printed without a stack, exit code 2. */
export class UsageError extends InvalidArgumentError {}
