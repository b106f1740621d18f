/*
 * Shared event data: lets a reader in the emitter's own process receive the emitter's object
 * instead of decoding the JSON it was stored as.
 *
 * The rule (docs/in-process-data.md): event data that is plain JSON data is frozen, deeply,
 * when it is emitted, and that frozen object is what in-process readers get; anything else is
 * decoded from its JSON as before. Freezing makes the sharing safe: neither the emitter nor
 * one of many readers can change what the log holds for the others (a write throws in strict
 * code), so every reader still sees exactly what `JSON.parse(json)` would give.
 *
 * "Plain JSON data" is what survives a JSON round trip unchanged: `null`, booleans, strings,
 * finite numbers other than -0, arrays without holes or `undefined` elements, and objects
 * whose prototype is `Object.prototype` or `null`, with no `toJSON`, whose enumerable values
 * are all plain JSON data. The check reads what `JSON.stringify` reads; like it, it does not
 * look at symbol-keyed or non-enumerable properties.
 */

// Deeper data is decoded as before: the walk stays bounded and small. Kept below the codec's
// MAX_JSON_DEPTH (64): the emit path skips its depth check for data found plain here.
const MAX_DEPTH = 32

function isPlain(value: unknown, depth: number): boolean {
  if (value === null) return true
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      // JSON turns NaN and ±Infinity into null, and -0 into 0.
      return Number.isFinite(value) && (value !== 0 || 1 / value > 0)
    case 'object':
      break
    default:
      return false // undefined, functions, symbols, bigints
  }
  if (depth >= MAX_DEPTH) return false
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i]
      if (v === undefined || !isPlain(v, depth + 1)) return false
    }
    return true
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return false
  const o = value as Record<string, unknown>
  if (typeof o.toJSON === 'function') return false
  for (const k in o) {
    if (!isPlain(o[k], depth + 1)) return false
  }
  return true
}

/**
 * Freezes `value` and everything in it: call it only on data {@link isPlainJson} accepted.
 * Gotcha: the caller's object is frozen — a later write to it throws in strict code.
 *
 * @internal
 * @example
 * ```ts
 * if (isPlainJson(data)) freezeDeep(data)
 * ```
 */
export function freezeDeep(value: unknown): void {
  if (typeof value !== 'object' || value === null) return
  Object.freeze(value)
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) freezeDeep(value[i])
  else for (const k in value) freezeDeep((value as Record<string, unknown>)[k])
}

/**
 * Whether `data` is plain JSON data (see the file header): `true` means that, once frozen
 * with {@link freezeDeep}, `data` equals `JSON.parse(JSON.stringify(data))` and can never
 * change, so a backend in this process may hand it to readers as is. It touches nothing, and
 * `true` also means `data` nests at most 32 levels, under the codec's `MAX_JSON_DEPTH` (so
 * no depth check is needed). The emit path encodes between the two calls, so a payload
 * refused as too large is not frozen.
 *
 * @internal
 * @example
 * ```ts
 * const shared = isPlainJson(data)
 * const { json } = encodePayload(data, limit, 'data', shared)
 * if (shared) freezeDeep(data)
 * ```
 */
export function isPlainJson(data: unknown): boolean {
  return isPlain(data, 0)
}
