/**
 * Encoding of payloads (run event data, bus data, inbox data) to JSON, once, with the size
 * limit checked at the same time. Everything that travels is JSON: the memory backend
 * round-trips it too, so every backend hands readers identical data.
 *
 * Invariant: a payload is measured on its UTF-8 encoded JSON, and refused whole when it is
 * over the limit — never truncated.
 */
import { InvalidArgumentError, PayloadTooLargeError } from './errors.js'

/** The default size limit for one payload: 1 MiB of encoded JSON. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

/**
 * How deeply JSON may nest (objects and arrays inside each other) anywhere runbus takes it:
 * event data, run meta, inbox and bus data, answers, HTTP bodies. Deeper values are refused
 * with `InvalidArgumentError`: they are never useful data, and a reader (or a recursive
 * serializer) can be made to overflow its stack on them.
 */
export const MAX_JSON_DEPTH = 64

/** Depth of containers at `v` and below, stopping as soon as it passes `max`. */
function tooDeep(v: unknown, depth: number, max: number): boolean {
  if (typeof v !== 'object' || v === null) return false
  if (depth >= max) return true
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (tooDeep(v[i], depth + 1, max)) return true
    return false
  }
  // A value with toJSON (Date…) serializes to what toJSON returns, usually a string.
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return false
  for (const k in v) {
    if (Object.hasOwn(v, k) && tooDeep((v as Record<string, unknown>)[k], depth + 1, max))
      return true
  }
  return false
}

/**
 * Refuses a value that nests objects/arrays deeper than `max` levels (default
 * {@link MAX_JSON_DEPTH}). The walk stops at `max`, so it cannot overflow the stack itself;
 * a cycle counts as too deep.
 *
 * Use it on parsed input before handing it on (the codec calls it for every payload).
 *
 * @throws InvalidArgumentError naming `what`.
 * @example
 * ```ts
 * checkJsonDepth(JSON.parse(body), 'request body')
 * ```
 */
export function checkJsonDepth(value: unknown, what = 'payload', max = MAX_JSON_DEPTH): void {
  if (tooDeep(value, 0, max)) {
    throw new InvalidArgumentError(`${what} nests deeper than ${max} levels`)
  }
}

/**
 * A payload encoded once: its JSON text and its size in bytes.
 *
 * @example
 * ```ts
 * const { json, size } = encodePayload({ a: 1 }, 1024)
 * ```
 */
export interface EncodedPayload {
  /** `JSON.stringify(data)` (`"null"` for `undefined`). */
  readonly json: string
  /** UTF-8 byte length of `json`. */
  readonly size: number
}

/**
 * UTF-8 byte length of a string, without encoding it when the answer is obvious.
 *
 * @example
 * ```ts
 * utf8Length('é') // 2
 * ```
 */
export function utf8Length(text: string): number {
  // Pure ASCII strings are the common case; Buffer.byteLength is exact and native.
  return Buffer.byteLength(text, 'utf8')
}

/**
 * Encodes `data` as JSON and checks it against `limit` bytes.
 *
 * Use it wherever a payload enters runbus (emit, publish, send). Gotchas: `undefined`
 * becomes `null`; values JSON cannot carry (BigInt, cycles) and values nested deeper than
 * {@link MAX_JSON_DEPTH} are an `InvalidArgumentError`;
 * `what` names the payload in the error message (a function is called only on a refusal, so
 * a hot path builds no message); `shallow: true` skips the depth walk, for a caller that
 * already knows `data` nests less than {@link MAX_JSON_DEPTH} levels.
 *
 * @throws PayloadTooLargeError with both sizes when over `limit`.
 * @example
 * ```ts
 * encodePayload('x'.repeat(2000), 1000) // throws PayloadTooLargeError (size 2002, limit 1000)
 * ```
 */
export function encodePayload(
  data: unknown,
  limit: number,
  what: string | (() => string) = 'payload',
  shallow = false,
): EncodedPayload {
  if (!shallow && tooDeep(data, 0, MAX_JSON_DEPTH)) {
    throw new InvalidArgumentError(`${name(what)} nests deeper than ${MAX_JSON_DEPTH} levels`)
  }
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch (err) {
    throw notEncodable(name(what), err)
  }
  if (json === undefined) json = 'null'
  // A UTF-8 character takes at most 3 bytes per UTF-16 code unit: skip measuring small text.
  const size = json.length * 3 <= limit ? json.length : utf8Length(json)
  if (size > limit) throw new PayloadTooLargeError(utf8Length(json), limit, name(what))
  return { json, size }
}

/**
 * The refusal of a payload that throws while it is read for encoding (a cycle, a BigInt, a
 * getter or `toJSON` that throws): `what` cannot be encoded as JSON, with the thrown value as
 * its `cause`. The emit path's walk reads what `JSON.stringify` reads and refuses the same way.
 *
 * @internal
 * @example
 * ```ts
 * throw notEncodable('data of event "t"', err) // InvalidArgumentError, cause: err
 * ```
 */
export function notEncodable(what: string, err: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`${what} cannot be encoded as JSON: ${String(err)}`, {
    cause: err,
  })
}

function name(what: string | (() => string)): string {
  return typeof what === 'string' ? what : what()
}
