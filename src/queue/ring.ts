/*
 * Ring — the storage of an AsyncQueue: a power-of-two ring of JS array slots, no Array#shift.
 *
 * Why it exists apart from the queue: storage knows nothing of waiters, policies or counters,
 * only where items sit. Items live at buf[(head + i) & mask] for 0 <= i < len; free slots hold
 * `undefined`, so a taken item is never kept alive by the ring. One array slot per buffered
 * item: memory per item stays that of a plain array.
 *
 * A `take` that drains the whole, unwrapped ring hands the array itself to the caller and
 * starts a fresh one (the "double buffering" of the design, done without copying on a
 * single-threaded loop).
 */

/** Slots of a fresh ring. */
export const INITIAL_SLOTS = 16
// After a whole-buffer swap the fresh ring starts no larger than this: a burst that grew the
// ring does not pin its memory forever.
const MAX_FRESH_SLOTS = 1024

/**
 * An array of `slots` empty slots, already of the generic elements kind. A fresh
 * `new Array(n)` starts as "holey small integers" and changes kind at the first `undefined`
 * written back on take: every new ring would then change shape under optimised code and
 * deoptimise it.
 */
function slotsOf<T>(slots: number): (T | undefined)[] {
  const ring = new Array<T | undefined>(slots)
  ring[0] = undefined
  return ring
}

function nextPow2(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

/**
 * A growable FIFO ring buffer (internal to the queue).
 *
 * Gotcha: `shift`, `take` and `replaceOldest` assume `len > 0`; the caller checks.
 *
 * @internal
 * @example
 * ```ts
 * const r = new Ring<number>(Infinity)
 * r.push(1)
 * r.shift() // 1
 * ```
 */
export class Ring<T> {
  /** The slots; `buf.length` is a power of two. */
  buf: (T | undefined)[]
  /** Index of the oldest item. */
  head = 0
  /** Number of items stored. */
  len = 0
  /** `buf.length - 1`. */
  mask: number

  /** A ring sized for `capacity` (never more than {@link INITIAL_SLOTS} up front). */
  constructor(capacity: number) {
    const slots = capacity < INITIAL_SLOTS ? nextPow2(capacity) : INITIAL_SLOTS
    this.buf = slotsOf<T>(slots)
    this.mask = slots - 1
  }

  /** Appends an item, doubling the ring when it is full. */
  push(item: T): void {
    const len = this.len
    if (len === this.buf.length) this.grow()
    this.buf[(this.head + len) & this.mask] = item
    this.len = len + 1
  }

  /** Removes and returns the oldest item (len > 0). */
  shift(): T {
    const buf = this.buf
    const head = this.head
    const item = buf[head] as T
    buf[head] = undefined
    if (--this.len === 0) this.head = 0
    else this.head = (head + 1) & this.mask
    return item
  }

  /** Removes up to `max` items (len > 0) as an array, swapping the ring out when it can. */
  take(max: number): T[] {
    const len = this.len
    const n = len <= max ? len : max
    const buf = this.buf
    const head = this.head
    let out: T[]
    if (n === len && head === 0) {
      // The whole buffer, unwrapped: hand over the ring itself (the double-buffer swap).
      // (Size the fresh ring before truncating: `out` is `buf`.)
      const slots = buf.length <= MAX_FRESH_SLOTS ? buf.length : MAX_FRESH_SLOTS
      this.buf = slotsOf<T>(slots)
      this.mask = slots - 1
      out = buf as T[]
      out.length = n
    } else if (head + n <= buf.length) {
      out = buf.slice(head, head + n) as T[]
      buf.fill(undefined, head, head + n)
    } else {
      out = new Array<T>(n)
      const mask = this.mask
      for (let i = 0; i < n; i++) {
        const at = (head + i) & mask
        out[i] = buf[at] as T
        buf[at] = undefined
      }
    }
    this.len = len - n
    this.head = n === len ? 0 : (head + n) & this.mask
    return out
  }

  /**
   * Discards the oldest item and appends `item` in one step: the length stays (len > 0). On a
   * full-sized ring the new tail slot is the old head's.
   */
  replaceOldest(item: T): void {
    const buf = this.buf
    const mask = this.mask
    const head = this.head
    buf[head] = undefined
    const next = (head + 1) & mask
    buf[(next + this.len - 1) & mask] = item
    this.head = next
  }

  /** Discards every item (a fresh, small array); returns how many there were. */
  clear(): number {
    const n = this.len
    const slots = this.buf.length < INITIAL_SLOTS ? this.buf.length : INITIAL_SLOTS
    this.buf = slotsOf<T>(slots)
    this.mask = slots - 1
    this.head = 0
    this.len = 0
    return n
  }

  /**
   * Doubles the ring (it is full: `len === buf.length`). The copy is done by builtins
   * (`concat`, `slice`, `fill`), not a JS loop: a ring grows a few times per burst, so its copy
   * loop would run mostly in the interpreter, before it is optimised (callgrind, 200k pushes
   * then a drain: ~110 instructions per item went to the interpreter copying). The result is
   * the old ring twice, so the items stay where they are, `head` included: from `head` to the
   * end of the first copy, then on from the start of the second, which is where a ring of
   * twice the size wraps them. The slots outside that run (before `head`, and after the run)
   * are cleared with `undefined`, so free slots keep nothing. One copy of 2n slots and no
   * temporaries (unwrapping first cost three copies: callgrind, S4 fan-in, where the ring
   * grows while four producers outpace one consumer).
   */
  private grow(): void {
    const old = this.buf
    const n = old.length
    const head = this.head
    const next = old.concat(old)
    if (head > 0) next.fill(undefined, 0, head)
    next.fill(undefined, n + head)
    this.buf = next
    this.mask = n * 2 - 1
  }
}
