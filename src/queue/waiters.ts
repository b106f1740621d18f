/*
 * Waiters — the promises an AsyncQueue keeps pending, and the one list kind that holds them.
 *
 * Why it exists apart from the queue: waiting consumers, blocked senders and `onSizeLessThan`
 * waiters are the same thing (a pending promise, an optional timer and abort listener) kept
 * in FIFO order with O(1) removal on cancel. One intrusive doubly linked list serves all
 * three. Invariant: a waiter is `linked` exactly while it is in its list, and only a linked
 * waiter owns a timer or an abort listener.
 */
import { TimeoutError } from '../events/errors.js'

// Waiter kinds: what a waiting consumer is resolved with, or a blocked producer.
/** `take()`: resolved with the item. */
export const TAKE = 0
/** Item iterator: `{ value: item, done: false }`. */
export const NEXT = 1
/** `takeBatch()`: `[item, …]`. */
export const BATCH = 2
/** Batch iterator: `{ value: [item, …], done: false }`. */
export const NEXT_BATCH = 3
/** A blocked `send()`: resolved once its item is accepted. */
export const SEND = 4
/** `onSizeLessThan()`: resolved once fewer than `max` items are buffered. */
export const SPACE = 5

/** A resolver that does nothing: the placeholder until the executor ran. */
const noop = (): void => {}

/**
 * One waiting consumer or blocked producer. A single class for every kind keeps the hot
 * paths monomorphic; it is its own abort listener (`handleEvent`), so waiting with a signal
 * allocates no closure.
 *
 * @internal
 * @example
 * ```ts
 * const w = new Waiter<number>(list, TAKE, 1, undefined, null)
 * ```
 */
export class Waiter<T> {
  prev: Waiter<T> | null = null
  next: Waiter<T> | null = null
  linked = true
  signal: AbortSignal | undefined = undefined
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  timeout = 0
  resolve: (value: never) => void = noop
  reject: (reason: unknown) => void = noop
  constructor(
    /** The list this waiter is (or was) in. */
    readonly list: WaiterList<T>,
    public kind: number,
    public max: number,
    /** A blocked sender's item. */
    public item: T | undefined,
    /** The iterator that owns this `next()`, so `return()` can release it. */
    public owner: object | null,
  ) {}

  /** The abort listener: cancels with the signal's reason. */
  handleEvent(): void {
    this.cancel((this.signal as AbortSignal).reason)
  }

  /** Leaves the list (if still in it) and rejects with `reason`. */
  cancel(reason: unknown): void {
    if (!this.linked) return
    this.list.remove(this)
    this.item = undefined
    this.reject(reason)
  }

  /** Releases the timer and abort listener (once out of the list). */
  release(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.signal !== undefined) {
      this.signal.removeEventListener('abort', this)
      this.signal = undefined
    }
  }
}

function onTimeout<T>(w: Waiter<T>): void {
  w.timer = undefined
  const what = w.kind === SEND ? 'send' : w.kind === SPACE ? 'onSizeLessThan' : 'take'
  w.cancel(new TimeoutError(w.timeout, `queue ${what} timed out after ${w.timeout} ms`))
}

/**
 * A FIFO of waiters: intrusive doubly linked, O(1) append, removal and shift.
 *
 * @internal
 * @example
 * ```ts
 * const consumers = new WaiterList<number>()
 * const p = consumers.wait<number>(TAKE, 1, undefined, null, undefined)
 * consumers.shift()?.resolve(42 as never)
 * ```
 */
export class WaiterList<T> {
  head: Waiter<T> | null = null
  tail: Waiter<T> | null = null
  /** Waiters in the list now. */
  count = 0
  /** A settled waiter kept for the next `wait` (see {@link WaiterList.recycle}). */
  spare: Waiter<T> | null = null

  /**
   * Appends a new waiter and returns its promise. `timeout` (ms, `Infinity` = none) and
   * `signal` cancel it; both are released when it leaves the list.
   */
  wait<R>(
    kind: number,
    max: number,
    item: T | undefined,
    owner: object | null,
    options:
      | { readonly signal?: AbortSignal | undefined; readonly timeout?: number | undefined }
      | undefined,
  ): Promise<R> {
    // A settled waiter of this list is reused (one spare): no waiter object per wait, so fewer
    // scavenges (callgrind: their fixed root-scanning cost is a large share of a handoff). The
    // executor stays a closure literal: TurboFan inlines `new Promise(literal)` whole, where a
    // stored executor goes through the generic Promise constructor.
    let w = this.spare
    if (w !== null) {
      this.spare = null
      w.linked = true
      w.kind = kind
      w.max = max
      w.item = item
      w.owner = owner
    } else w = new Waiter<T>(this, kind, max, item, owner)
    const waiter = w
    const promise = new Promise<R>((resolve, reject) => {
      waiter.resolve = resolve
      waiter.reject = reject
    })
    const tail = this.tail
    if (tail === null) this.head = w
    else {
      tail.next = w
      w.prev = tail
    }
    this.tail = w
    this.count++
    if (options !== undefined) {
      const timeout = options.timeout
      if (timeout !== undefined && timeout !== Infinity) {
        w.timeout = timeout
        w.timer = setTimeout(onTimeout, timeout, w)
      }
      const signal = options.signal
      if (signal !== undefined) {
        w.signal = signal
        signal.addEventListener('abort', w)
      }
    }
    return promise
  }

  /** Takes the first waiter out of the list (releasing its timer and listener). */
  shift(): Waiter<T> | null {
    const w = this.head
    if (w === null) return null
    const next = w.next
    this.head = next
    if (next === null) this.tail = null
    else {
      next.prev = null
      w.next = null
    }
    this.count--
    w.linked = false
    if (w.timer !== undefined || w.signal !== undefined) w.release()
    return w
  }

  /** Takes `w` out of the list (releasing its timer and listener). */
  remove(w: Waiter<T>): void {
    w.linked = false
    const prev = w.prev
    const next = w.next
    if (prev === null) this.head = next
    else prev.next = next
    if (next === null) this.tail = prev
    else next.prev = prev
    w.prev = null
    w.next = null
    this.count--
    w.release()
  }

  /**
   * Keeps `w` for reuse by the next `wait`. Only for a waiter already shifted out and settled
   * by the caller, that nothing else refers to (not a filling batch consumer): its timer and
   * listener are released by `shift`, and its settle functions are dropped here so the spare
   * keeps no promise alive.
   */
  recycle(w: Waiter<T>): void {
    w.resolve = noop
    w.reject = noop
    w.item = undefined
    w.owner = null
    this.spare = w
  }

  /** Empties the list, rejecting every waiter with `reason`. */
  rejectAll(reason: unknown): void {
    let w: Waiter<T> | null
    while ((w = this.shift()) !== null) {
      w.item = undefined
      w.reject(reason)
    }
  }
}
