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

import { utf8Length } from './codec.js'

// Deeper data is decoded as before: the walk stays bounded and small. Kept below the codec's
// MAX_JSON_DEPTH (64): the emit path skips its depth check for data found plain here.
const MAX_DEPTH = 32

// The walk remembers, per member position, the last key it met there and that key's size
// (with its ':' and ','): events of one type repeat their keys in order, so the next walk
// compares one string (internalized keys: usually a pointer) instead of scanning it again.
// Each slot always holds a key with its own size, so any key at any position stays exact.
// Bounded: 16 positions, keys of at most 64 characters; '' (4 bytes: `"":,`) to start.
const KEYS_KEPT = 16
const KEY_KEPT_CHARS = 64
const seenKeys: string[] = new Array<string>(KEYS_KEPT).fill('')
const seenKeyBytes = new Int32Array(KEYS_KEPT).fill(4)

/**
 * UTF-8 bytes of `JSON.stringify(s)`. Printable ASCII other than `"` and `\\` is copied as
 * is (the common case, counted without encoding anything); any other string is encoded and
 * measured (escapes, lone surrogates and multi-byte characters counted as JSON writes them).
 */
function stringBytes(s: string): number {
  const n = s.length
  if (n <= 64) {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return utf8Length(JSON.stringify(s))
    }
    return n + 2
  }
  return NEEDS_ENCODING.test(s) ? utf8Length(JSON.stringify(s)) : n + 2
}
const NEEDS_ENCODING = /[^\x20\x21\x23-\x5b\x5d-\x7e]/

/** Characters of a finite number as JSON writes it (`String(n)`), without making the text for integers. */
function numberBytes(n: number): number {
  if (!Number.isSafeInteger(n)) return String(n).length
  const sign = n < 0 ? 1 : 0
  const m = n < 0 ? -n : n
  // Digits by comparison: most numbers in events are small, and a division per digit is not.
  // One loop, not a chain of comparisons: each comparison of a chain is first reached only
  // when the numbers grow (a counter passing 10, 100, ...), and the optimized code, which
  // had never seen it run, is thrown away each time.
  let len = 1
  while (len < 16 && m >= POWERS_OF_TEN[len]) len++
  return sign + len
}
/** `POWERS_OF_TEN[k]` is 10^k, exact, for k up to 15 (a safe integer has at most 16 digits). */
const POWERS_OF_TEN = Float64Array.from({ length: 16 }, (_, k) => 10 ** k)

/**
 * -1 when `value` is not plain JSON data, else the UTF-8 byte length of its JSON text. One
 * walk does both: what `JSON.stringify` would write, counted, not written. Each object and
 * array it enters goes on `met` (the caller gives the stack back to where it started).
 */
function plainBytes(value: unknown, depth: number): number {
  // `typeof x === '...'` tests, not a `switch (typeof x)`: each test compiles to a check of
  // the value's map, where the switch makes the type's name first (a builtin call per value).
  if (typeof value === 'string') return stringBytes(value)
  if (typeof value === 'number') {
    // JSON turns NaN and ±Infinity into null, and -0 into 0.
    return Number.isFinite(value) && (value !== 0 || 1 / value > 0) ? numberBytes(value) : -1
  }
  if (typeof value === 'object') {
    if (value === null) return 4
  } else if (typeof value === 'boolean') return value ? 4 : 5
  else return -1 // undefined, functions, symbols, bigints
  if (depth >= MAX_DEPTH) return -1
  met[top++] = value
  // A property is read before the prototype in both branches (as JSON.stringify reads
  // `toJSON` first): the read checks the object's map, and with the map known the optimizing
  // compiler folds `Object.getPrototypeOf` to a constant. Called on a value of no known map,
  // it is a call into the runtime (1.5% of a one-follower run's time in perf).
  if (Array.isArray(value)) {
    const n = value.length
    if (Object.getPrototypeOf(value) !== Array.prototype) return -1
    // Brackets, and a comma between elements.
    let size = n === 0 ? 2 : n + 1
    for (let i = 0; i < n; i++) {
      const v: unknown = value[i]
      if (v === undefined) return -1
      const b = plainBytes(v, depth + 1)
      if (b < 0) return -1
      size += b
    }
    return size
  }
  const o = value as Record<string, unknown>
  if (typeof o.toJSON === 'function') return -1
  const proto: unknown = Object.getPrototypeOf(o)
  if (proto !== Object.prototype && proto !== null) return -1
  // Braces; each member adds its key, ':' and a ',' (one too many, the first one has none).
  let size = 1
  let j = 0
  for (const k in o) {
    const b = plainBytes(o[k], depth + 1)
    if (b < 0) return -1
    let kb: number
    if (j < KEYS_KEPT && seenKeys[j] === k) kb = seenKeyBytes[j]
    else {
      kb = stringBytes(k) + 2
      if (j < KEYS_KEPT && k.length <= KEY_KEPT_CHARS) {
        seenKeys[j] = k
        seenKeyBytes[j] = kb
      }
    }
    j++
    size += kb + b
  }
  return size === 1 ? 2 : size
}

/**
 * The exact UTF-8 byte length of `JSON.stringify(data)` when `data` is plain JSON data (see
 * the file header), or `-1` when it is not. A size means that, once frozen deeply (as
 * {@link sharePlainJson} does), `data` equals `JSON.parse(JSON.stringify(data))` and can never change,
 * so a backend in this process may hand it to readers as is; and that `data` nests at most 32
 * levels, under the codec's `MAX_JSON_DEPTH` (no depth check needed). It counts what the encoder would
 * write without writing it, so the emit path checks the size limit (and the budgets count
 * bytes) with no JSON text made; the text is made only when a backend needs it (see
 * {@link SharedDraft}). It touches nothing. The emit path checks the size before freezing,
 * so a payload refused as too large is not frozen.
 *
 * @internal
 * @example
 * ```ts
 * plainJsonBytes({ text: 'é' }) // 13, as Buffer.byteLength(JSON.stringify({ text: 'é' }))
 * plainJsonBytes(new Date()) // -1
 * ```
 */
export function plainJsonBytes(data: unknown): number {
  // A limit no size is within: measured, nothing frozen.
  return sharePlainJson(data, -1)
}

/**
 * The objects and arrays the walks in progress met, so that {@link sharePlainJson} freezes
 * them with no second walk. A stack: a getter read by a walk may start another walk (an
 * emit from inside a getter), and each walk keeps to its own part, from where it started.
 * `top` is its height. The array is kept between walks (setting `length = 0` after each
 * would free its backing store, and the next emit would allocate one again: 152 bytes an
 * event); each walk clears its own slots, so no data is held after it, and a stack grown
 * past `MET_KEPT` by one large payload is let go once no walk is in progress.
 */
const met: unknown[] = []
let top = 0
const MET_KEPT = 4096

/**
 * Slots the walk stack holds between walks (at most `MET_KEPT`): for the boundedness test.
 *
 * @internal
 * @example
 * ```ts
 * walkStackSlots() // 0 before the first walk
 * ```
 */
export function walkStackSlots(): number {
  return met.length
}

/**
 * What the emit path does with event data, in one walk: {@link plainJsonBytes}, and when the
 * data is plain JSON data within `limit` bytes, freezes it deeply too (each object and array
 * the walk met, without walking again). Returns the size (over `limit`: nothing was frozen, the
 * caller refuses it) or `-1` (not plain JSON data: nothing was frozen).
 *
 * @internal
 * @example
 * ```ts
 * const bytes = sharePlainJson(data, limit) // data is frozen when 0 <= bytes <= limit
 * ```
 */
export function sharePlainJson(data: unknown, limit: number): number {
  const start = top
  let bytes = -1
  try {
    bytes = plainBytes(data, 0)
    if (bytes >= 0 && bytes <= limit) for (let i = start; i < top; i++) Object.freeze(met[i])
  } finally {
    // Also when a getter threw: the stack is as it was before the walk, and holds no data.
    for (let i = start; i < top; i++) met[i] = undefined
    top = start
    if (start === 0 && met.length > MET_KEPT) met.length = 0
  }
  return bytes
}
