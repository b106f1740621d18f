/**
 * Checks on what comes in over HTTP. Every failure is an `InvalidArgumentError` naming the
 * field, so a client gets a 400 it can act on instead of a 500 from deep inside.
 */
import { InvalidArgumentError } from '../events/errors.js'

/** A JSON object (not an array, not null). */
export type JsonObject = Record<string, unknown>

/** `value` as an object with only `allowed` keys, or a 400. */
export function objectBody(value: unknown, allowed: readonly string[], what = 'body'): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`${what} must be a JSON object`)
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidArgumentError(
        `${what} has an unknown field ${JSON.stringify(key)} (allowed: ${allowed.join(', ')})`,
      )
    }
  }
  return value as JsonObject
}

/** A required non-empty string of at most `max` characters without control characters. */
export function str(obj: JsonObject, key: string, max = 200): string {
  const v = obj[key]
  if (typeof v !== 'string' || v.length === 0) {
    throw new InvalidArgumentError(`"${key}" must be a non-empty string`)
  }
  if (v.length > max) throw new InvalidArgumentError(`"${key}" is longer than ${max} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) {
    throw new InvalidArgumentError(`"${key}" must not contain control characters`)
  }
  return v
}

/** An optional string (see `str`). */
export function optStr(obj: JsonObject, key: string, max = 200): string | undefined {
  return obj[key] === undefined ? undefined : str(obj, key, max)
}

/** An optional free-text string (control characters allowed, length bounded). */
export function optText(obj: JsonObject, key: string, max = 100_000): string | undefined {
  const v = obj[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new InvalidArgumentError(`"${key}" must be a string`)
  if (v.length > max) throw new InvalidArgumentError(`"${key}" is longer than ${max} characters`)
  return v
}

/** An optional plain object. */
export function optObject(obj: JsonObject, key: string): JsonObject | undefined {
  const v = obj[key]
  if (v === undefined) return undefined
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new InvalidArgumentError(`"${key}" must be a JSON object`)
  }
  return v as JsonObject
}

/** An optional finite number within [min, max]. */
export function optNumber(
  obj: JsonObject,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const v = obj[key]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new InvalidArgumentError(`"${key}" must be a number between ${min} and ${max}`)
  }
  return v
}

/** One of `values`. */
export function oneOf<T extends string>(obj: JsonObject, key: string, values: readonly T[]): T {
  const v = obj[key]
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`"${key}" must be one of ${values.join(', ')}`)
  }
  return v as T
}

/** An event type: 1–200 printable characters, not one runbus reserves. */
export function eventType(obj: JsonObject, reserved: ReadonlySet<string>): string {
  const t = str(obj, 'type')
  if (reserved.has(t)) {
    throw new InvalidArgumentError(`type ${JSON.stringify(t)} is reserved for runbus itself`)
  }
  return t
}

/** A query parameter as an integer within bounds, or the default. */
export function queryInt(url: URL, key: string, dflt: number, min: number, max: number): number {
  const raw = url.searchParams.get(key)
  if (raw === null || raw === '') return dflt
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`?${key} must be an integer between ${min} and ${max}`)
  }
  return n
}

/** A query flag: `1`, `true`, `yes` or empty-but-present are true. */
export function queryFlag(url: URL, key: string): boolean {
  const raw = url.searchParams.get(key)
  if (raw === null) return false
  return raw === '' || raw === '1' || raw === 'true' || raw === 'yes'
}
