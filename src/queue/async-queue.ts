/*
 * AsyncQueue — the in-process channel every other runbus part is built on.
 *
 * Why it exists: run streams, the bus, the work queue and the hub all move items from
 * producers that must never block the event loop to consumers that await them. One
 * well-tested channel with explicit overflow policies, cancellable waits and exact
 * counters is cheaper to trust than five ad-hoc ones.
 *
 * Invariants kept between any two calls (the property test checks them after every step):
 *  - consumers wait only on an empty buffer:      waitingConsumers > 0  ⇒ size === 0
 *  - producers wait only on a full, open buffer:  waitingProducers > 0  ⇒ size === capacity
 *    (so both lists are never non-empty at once, and only the 'block' policy has producers)
 *  - nothing disappears uncounted: enqueued === dequeued + size + dropped.oldest + dropped.aborted
 *  - items leave in acceptance order; waiting consumers are served, and blocked senders are
 *    accepted, in the order they started waiting
 *  - a settled waiter is in no list, owns no timer and no abort listener.
 *  - at most one batch consumer is "filling" (served, not yet woken: it absorbs the rest of a
 *    synchronous burst, up to its max); while one fills, the buffer is empty.
 *
 * Storage is a power-of-two ring (no Array#shift): one JS array slot per buffered item, so
 * memory per item stays that of a plain array. A batch take that drains the whole buffer hands
 * the ring array itself to the consumer and starts a fresh one: that swap is the "double
 * buffering" of the design, done without copying on a single-threaded loop.
 */
import {
  AbortedError,
  InvalidArgumentError,
  QueueClosedError,
  QueueFullError,
  TimeoutError,
} from '../events/errors.js'

/**
 * What {@link AsyncQueue.push} and {@link AsyncQueue.send} do when a bounded queue is full.
 *
 * - `block` — `push` returns `false` and enqueues nothing; `send` waits for room.
 * - `drop-oldest` — the oldest buffered item is discarded (counted in `stats.dropped.oldest`)
 *   and the new one is accepted.
 * - `drop-newest` — the new item is discarded (counted in `stats.dropped.newest`); `push`
 *   returns `false`, `send` resolves.
 * - `error` — `push` throws and `send` rejects with `QueueFullError`.
 *
 * @example
 * ```ts
 * const latest = new AsyncQueue<number>({ capacity: 100, policy: 'drop-oldest' })
 * ```
 */
export type OverflowPolicy = 'block' | 'drop-oldest' | 'drop-newest' | 'error'

/**
 * Lifecycle of an {@link AsyncQueue}: `open` → `closed` (no new items, consumers drain what is
 * left) and/or `aborted` (everything ended at once). Once left, `open` never comes back.
 *
 * @example
 * ```ts
 * if (queue.state === 'aborted') console.warn('producer gave up')
 * ```
 */
export type QueueState = 'open' | 'closed' | 'aborted'

/**
 * Options for {@link AsyncQueue}'s constructor.
 *
 * Use `capacity` to bound memory; with the default `Infinity` the policy never applies.
 * Gotcha: `capacity` must be a positive integer or `Infinity` (a zero-capacity rendezvous
 * channel is not supported).
 *
 * @example
 * ```ts
 * new AsyncQueue<string>({ capacity: 1024, policy: 'block' })
 * ```
 */
export interface AsyncQueueOptions {
  /** Maximum number of buffered items. Default `Infinity`. */
  readonly capacity?: number | undefined
  /** What to do when full. Default `'block'`. */
  readonly policy?: OverflowPolicy | undefined
}

/**
 * Bounds for a wait: `take`, `takeBatch` and a blocked `send`.
 *
 * Use a `signal` to cancel from outside and `timeout` (milliseconds) to give up on your own.
 * Gotchas: an aborted wait rejects with `signal.reason`; a timed-out one with `TimeoutError`;
 * `timeout: 0` means "only if it can happen now". A rejected wait has taken or sent nothing,
 * and leaves no timer, listener or waiter behind.
 *
 * @example
 * ```ts
 * const item = await queue.take({ signal: ac.signal, timeout: 5_000 })
 * ```
 */
export interface WaitOptions {
  /** Cancels the wait; the promise rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined
  /** Gives up after this many milliseconds with a `TimeoutError`. Default: no limit. */
  readonly timeout?: number | undefined
}

/**
 * A snapshot of an {@link AsyncQueue}'s counters, exact at the moment it is read.
 *
 * Accounting: `enqueued` counts every accepted item (fast-path handoffs included, a blocked
 * send only once it is accepted); `dequeued` counts every item handed to a consumer;
 * `fastPath` counts handoffs straight to a waiting consumer (also counted in both of the
 * former). Always `enqueued === dequeued + size + dropped.oldest + dropped.aborted`.
 * `dropped.newest` counts refused items, which were never enqueued.
 *
 * @example
 * ```ts
 * const { size, highWater, dropped } = queue.stats
 * ```
 */
export interface QueueStats {
  /** Items accepted. */
  readonly enqueued: number
  /** Items handed to consumers. */
  readonly dequeued: number
  /** Items handed directly to an already waiting consumer, never buffered. */
  readonly fastPath: number
  readonly dropped: {
    /** Buffered items discarded by `drop-oldest` to make room. */
    readonly oldest: number
    /** Incoming items refused by `drop-newest`. */
    readonly newest: number
    /** Buffered items discarded by `abort()`. */
    readonly aborted: number
  }
  /** Items buffered now. */
  readonly size: number
  /** Largest `size` ever reached. */
  readonly highWater: number
  /** Consumers (`take`, `takeBatch`, iterators) waiting now. */
  readonly waitingConsumers: number
  /** Blocked `send` calls waiting now. */
  readonly waitingProducers: number
}

// States and policies as small integers: the hot paths compare them on every call.
const OPEN = 0
const CLOSED = 1
const ABORTED = 2
const STATE_NAMES: readonly QueueState[] = ['open', 'closed', 'aborted']

const BLOCK = 0
const DROP_OLDEST = 1
const DROP_NEWEST = 2
const ERROR = 3

// Waiter kinds: what a waiting consumer is resolved with, or a blocked producer.
const TAKE = 0 // the item
const NEXT = 1 // { value: item, done: false }
const BATCH = 2 // [item]
const NEXT_BATCH = 3 // { value: [item], done: false }
const SEND = 4 // void, once its item is accepted
const SPACE = 5 // void, once fewer than `max` items are buffered (onSizeLessThan)

const INITIAL_SLOTS = 16
// After a whole-buffer swap the fresh ring starts no larger than this: a burst that grew the
// ring does not pin its memory forever.
const MAX_FRESH_SLOTS = 1024

const RESOLVED: Promise<void> = Promise.resolve()
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

const noop = (): void => {}

/**
 * One waiting consumer or blocked producer. A single class for every kind keeps the hot
 * paths monomorphic; it is its own abort listener (`handleEvent`), so waiting with a signal
 * allocates no closure.
 */
class Waiter<T> {
  prev: Waiter<T> | null = null
  next: Waiter<T> | null = null
  linked = true
  /** The array a waiting batch consumer is being handed, while it fills (see `filling`). */
  batch: T[] | null = null
  signal: AbortSignal | undefined = undefined
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  timeout = 0

  constructor(
    readonly queue: AsyncQueue<T>,
    readonly kind: number,
    readonly max: number,
    public item: T | undefined,
    readonly owner: object | null,
    public resolve: (value: never) => void,
    public reject: (reason: unknown) => void,
  ) {}

  handleEvent(): void {
    cancelWaiter(this, (this.signal as AbortSignal).reason)
  }
}

function onWaiterTimeout<T>(w: Waiter<T>): void {
  w.timer = undefined
  const what = w.kind === SEND ? 'send' : w.kind === SPACE ? 'onSizeLessThan' : 'take'
  cancelWaiter(w, new TimeoutError(w.timeout, `queue ${what} timed out after ${w.timeout} ms`))
}

function cancelWaiter<T>(w: Waiter<T>, reason: unknown): void {
  // Bracket access reaches the private method without widening the public surface.
  w.queue['cancel'](w, reason)
}

/** A rejected promise with a reason we pass through as is (a signal's reason may be anything). */
function rejected<R>(reason: unknown): Promise<R> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- pass-through
  return Promise.reject(reason)
}

/**
 * A ring of `slots` empty slots, already of the generic elements kind. A fresh `new Array(n)`
 * starts as "holey small integers" and changes kind at the first `undefined` written back on
 * take: every new ring would then change shape under optimised code and deoptimise it.
 */
function newRing<T>(slots: number): (T | undefined)[] {
  const ring = new Array<T | undefined>(slots)
  ring[0] = undefined
  return ring
}

function nextPow2(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

function checkTimeout(timeout: number | undefined): void {
  if (timeout !== undefined && !(timeout >= 0)) {
    throw new InvalidArgumentError(`timeout must be a number >= 0 (ms), got ${String(timeout)}`)
  }
}

function checkMax(max: number): void {
  if (!(max >= 1) || (max !== Infinity && !Number.isInteger(max))) {
    throw new InvalidArgumentError(`max must be a positive integer or Infinity, got ${String(max)}`)
  }
}

/**
 * A fast, bounded-or-not, async FIFO channel between producers and consumers in one process.
 *
 * Use it wherever one side produces items the other awaits: `push` never waits (the
 * synchronous escape hatch), `send` waits for room under the `block` policy, `take` and
 * `takeBatch` wait for items, and `for await` reads until `close()`. A consumer that is
 * already waiting receives an item directly, without touching the buffer.
 *
 * Gotchas:
 * - `push` on a full `block` queue returns `false` and enqueues nothing: check it, or use
 *   `send` to wait.
 * - `close()` lets consumers drain what is buffered; `abort()` discards it. After either,
 *   `push` throws `QueueClosedError`.
 * - `tryTake()` returns `undefined` when empty: ambiguous if `T` includes `undefined`.
 * - Several consumers compete: each item goes to exactly one of them.
 * - A batch returned by `takeBatch` may be the queue's former ring array: it is yours, the
 *   queue no longer touches it.
 *
 * @example
 * ```ts
 * const q = new AsyncQueue<string>({ capacity: 1024 })
 * void (async () => {
 *   for (const word of ['a', 'b', 'c']) await q.send(word)
 *   q.close()
 * })()
 * for await (const word of q) console.log(word)
 * ```
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  /** Maximum number of buffered items (`Infinity` when unbounded). */
  readonly capacity: number
  /** What a full queue does with new items. */
  readonly policy: OverflowPolicy

  private readonly policyCode: number
  private stateCode = OPEN
  private reason: unknown = undefined

  // Ring buffer: items live at buf[(head + i) & mask] for 0 <= i < len.
  private buf: (T | undefined)[]
  private head = 0
  private len = 0
  private mask: number

  // Waiting consumers and blocked producers: intrusive doubly linked lists, O(1) removal.
  private cHead: Waiter<T> | null = null
  private cTail: Waiter<T> | null = null
  private cCount = 0
  private pHead: Waiter<T> | null = null
  private pTail: Waiter<T> | null = null
  private pCount = 0
  // onSizeLessThan waiters: unordered in effect (each has its own limit), kept in a list for
  // O(1) removal on cancel.
  private sHead: Waiter<T> | null = null
  private sTail: Waiter<T> | null = null

  private enqueued = 0
  private dequeued = 0
  private fastPath = 0
  private droppedOldest = 0
  private droppedNewest = 0
  private droppedAborted = 0
  private highWater = 0

  // A batch consumer that was waiting and got an item keeps receiving the items pushed in the
  // same synchronous run (up to its max, after any consumers still waiting are served) until
  // a microtask hands the array over: a burst reaches it as one batch. It no longer counts
  // as waiting. While it fills, the buffer stays empty.
  private filling: Waiter<T> | null = null
  private settleFillingFn: (() => void) | undefined = undefined

  private closedPromise: Promise<void> | undefined = undefined
  private resolveClosed: (() => void) | undefined = undefined

  /**
   * Creates a queue.
   *
   * @throws InvalidArgumentError if `capacity` is not a positive integer or `Infinity`, or `policy`
   * is unknown.
   *
   * @example
   * ```ts
   * const q = new AsyncQueue<number>({ capacity: 256, policy: 'drop-newest' })
   * ```
   */
  constructor(options: AsyncQueueOptions = {}) {
    const capacity = options.capacity ?? Infinity
    if (!(capacity >= 1) || (capacity !== Infinity && !Number.isInteger(capacity))) {
      throw new InvalidArgumentError(
        `capacity must be a positive integer or Infinity, got ${String(capacity)}`,
      )
    }
    const policy = options.policy ?? 'block'
    const code = ['block', 'drop-oldest', 'drop-newest', 'error'].indexOf(policy)
    if (code < 0)
      throw new InvalidArgumentError(`unknown overflow policy ${JSON.stringify(policy)}`)
    this.capacity = capacity
    this.policy = policy
    this.policyCode = code
    const slots = capacity < INITIAL_SLOTS ? nextPow2(capacity) : INITIAL_SLOTS
    this.buf = newRing<T>(slots)
    this.mask = slots - 1
  }

  /**
   * Number of items buffered now.
   *
   * @example
   * ```ts
   * if (q.size > 1000) console.warn('consumer is falling behind')
   * ```
   */
  get size(): number {
    return this.len
  }

  /**
   * `'open'`, `'closed'` (draining or drained) or `'aborted'`.
   *
   * @example
   * ```ts
   * q.close(); q.state // 'closed'
   * ```
   */
  get state(): QueueState {
    return STATE_NAMES[this.stateCode]
  }

  /**
   * True once `close()` or `abort()` was called: no new item will be accepted.
   * Gotcha: a closed queue may still hold items for consumers to drain (see `size`).
   *
   * @example
   * ```ts
   * if (!q.closed) q.push(item)
   * ```
   */
  get closed(): boolean {
    return this.stateCode !== OPEN
  }

  /**
   * Counters, exact at the moment of reading. A new object on each read: read it once.
   *
   * @example
   * ```ts
   * const { enqueued, dequeued, fastPath } = q.stats
   * ```
   */
  get stats(): QueueStats {
    const filling = this.filling === null ? 0 : (this.filling.batch as T[]).length - 1
    return {
      enqueued: this.enqueued + filling,
      dequeued: this.dequeued + filling,
      fastPath: this.fastPath + filling,
      dropped: {
        oldest: this.droppedOldest,
        newest: this.droppedNewest,
        aborted: this.droppedAborted,
      },
      size: this.len,
      highWater: this.highWater,
      waitingConsumers: this.cCount,
      waitingProducers: this.pCount,
    }
  }

  /**
   * Offers an item without ever waiting; returns whether it was accepted.
   *
   * Use it from synchronous code and hot producers. When full: `block` and `drop-newest`
   * return `false` (nothing enqueued), `drop-oldest` discards the oldest buffered item and
   * returns `true`, `error` throws `QueueFullError`.
   *
   * @throws QueueClosedError after `close()` or `abort()`.
   * @throws QueueFullError when full under the `error` policy.
   *
   * @example
   * ```ts
   * if (!q.push(event)) metrics.backpressure.inc()
   * ```
   */
  push(item: T): boolean {
    // Kept small so it inlines into the caller's loop: the common cases (room in the buffer,
    // a waiting consumer, drop-newest on a full buffer) are handled here, the rest in pushSlow.
    const len = this.len
    if (len >= this.capacity) {
      // Full, so no consumer is waiting or filling (they only wait on an empty buffer).
      if (this.policyCode === DROP_NEWEST && this.stateCode === OPEN) {
        this.droppedNewest++
        return false
      }
      return this.pushSlow(item)
    }
    const w = this.cHead
    if (w === null) {
      if (this.filling === null && this.stateCode === OPEN) {
        if (len === this.buf.length) this.grow()
        this.buf[(this.head + len) & this.mask] = item
        this.len = len + 1
        this.enqueued++
        if (len >= this.highWater) this.highWater = len + 1
        return true
      }
    } else if (this.stateCode === OPEN) {
      this.handOff(w, item)
      return true
    }
    return this.pushSlow(item)
  }

  private pushSlow(item: T): boolean {
    if (this.stateCode !== OPEN) throw this.closedError()
    const w = this.cHead
    if (w !== null) {
      this.handOff(w, item)
      return true
    }
    if (this.filling !== null) {
      this.fill(this.filling, item)
      return true
    }
    if (this.len < this.capacity) {
      this.store(item)
      return true
    }
    return this.overflow(item)
  }

  /**
   * Offers an item, waiting for room while a `block` queue is full.
   *
   * Use it for producers that must not lose items and should slow down to the consumer's
   * pace. Blocked senders are accepted in the order they called `send`. For a hot producer
   * on a queue that stays full, `push` plus {@link AsyncQueue.onSizeLessThan} waits once per
   * burst instead of once per item. Under the other
   * policies it acts like `push`: it resolves at once (even when `drop-newest` refused the
   * item, which `stats.dropped.newest` counts) or rejects with `QueueFullError` (`error`).
   *
   * Gotchas: it rejects (never throws) with `QueueClosedError` if the queue is or becomes
   * closed, with `signal.reason` on abort and `TimeoutError` on timeout; a rejected send
   * never enqueues its item.
   *
   * @example
   * ```ts
   * for (const chunk of chunks) await q.send(chunk, { signal })
   * ```
   */
  send(item: T, options?: WaitOptions): Promise<void> {
    if (options !== undefined) {
      checkTimeout(options.timeout)
      if (this.stateCode === OPEN && options.signal?.aborted === true) {
        return rejected(options.signal.reason)
      }
    }
    if (this.stateCode !== OPEN) return Promise.reject(this.closedError())
    const w = this.cHead
    if (w !== null) {
      this.handOff(w, item)
      return RESOLVED
    }
    if (this.filling !== null) {
      this.fill(this.filling, item)
      return RESOLVED
    }
    if (this.len < this.capacity) {
      this.store(item)
      return RESOLVED
    }
    if (this.policyCode !== BLOCK) {
      try {
        this.overflow(item)
      } catch (error) {
        return rejected(error)
      }
      return RESOLVED
    }
    if (options !== undefined && options.timeout !== undefined && options.timeout <= 0) {
      return Promise.reject(
        new TimeoutError(0, 'queue send timed out after 0 ms: the queue is full'),
      )
    }
    return this.wait<void>(SEND, 0, item, null, options)
  }

  /**
   * Takes the next item, waiting for one if the queue is empty.
   *
   * Use it for one-at-a-time consumers. Several consumers may wait; each item goes to
   * exactly one of them, in the order they started waiting.
   *
   * Gotchas: rejects with `QueueClosedError` once the queue is closed and drained, with the
   * abort reason after `abort()`, with `signal.reason` or `TimeoutError` per `options`. A
   * rejected take has consumed nothing.
   *
   * @example
   * ```ts
   * const job = await q.take({ timeout: 30_000 })
   * ```
   */
  take(options?: WaitOptions): Promise<T> {
    if (options !== undefined) {
      checkTimeout(options.timeout)
      if (options.signal?.aborted === true) return rejected(options.signal.reason)
    }
    if (this.len > 0) return Promise.resolve(this.shift())
    return this.waitForItems<T>(TAKE, 1, null, options)
  }

  /**
   * Takes up to `max` items at once (all buffered items by default), waiting for at least one.
   *
   * Use it to process in bulk: one await for many items. When `max` covers the whole buffer,
   * the queue hands over its ring array and starts a new one instead of copying. A batch
   * consumer that was waiting receives the first item directly and then the rest of the same
   * synchronous burst (up to `max`, after any other waiting consumer got one), so a burst
   * arrives as one batch rather than as one item followed by the rest.
   *
   * Gotchas: never resolves with an empty array; rejects like {@link AsyncQueue.take}; once
   * it has received an item it can no longer time out or be aborted (the items are its).
   *
   * @example
   * ```ts
   * const events = await q.takeBatch(256)
   * await db.insertMany(events)
   * ```
   */
  takeBatch(max: number = Infinity, options?: WaitOptions): Promise<T[]> {
    checkMax(max)
    if (options !== undefined) {
      checkTimeout(options.timeout)
      if (options.signal?.aborted === true) return rejected(options.signal.reason)
    }
    if (this.len > 0) return Promise.resolve(this.drain(max))
    return this.waitForItems<T[]>(BATCH, max, null, options)
  }

  /**
   * Takes the next buffered item now, or returns `undefined` if there is none.
   *
   * Use it to drain synchronously. Gotcha: `undefined` is ambiguous when `T` allows it;
   * check `size` first in that case.
   *
   * @example
   * ```ts
   * let item
   * while ((item = q.tryTake()) !== undefined) handle(item)
   * ```
   */
  tryTake(): T | undefined {
    return this.len > 0 ? this.shift() : undefined
  }

  /**
   * Takes up to `max` buffered items now (all by default); an empty array if there are none.
   *
   * Use it to drain synchronously in bulk, e.g. to flush on a timer.
   *
   * @example
   * ```ts
   * const pending = q.tryTakeBatch()
   * ```
   */
  tryTakeBatch(max: number = Infinity): T[] {
    checkMax(max)
    return this.len > 0 ? this.drain(max) : []
  }

  /**
   * Resolves once fewer than `limit` items are buffered — at once if that is already so.
   *
   * Use it for back-pressure with hysteresis, like a stream's `'drain'`: a hot producer
   * `push`es until it gets `false`, waits for the consumer to drain to a low-water mark, then
   * pushes a burst again. That is one wait per burst, where `send` on a queue kept full costs
   * one wait per message.
   *
   * Gotchas: it reserves no room — another producer may fill it first — so loop on `push`.
   * Rejects with `QueueClosedError` once the queue is closed (a push would throw), with the
   * abort reason after `abort()`, and with `signal.reason` / `TimeoutError` per `options`.
   * These waiters are not counted in `stats.waitingProducers` (that counts blocked `send`s).
   *
   * @example
   * ```ts
   * for (const x of source) {
   *   while (!q.push(x)) await q.onSizeLessThan(q.capacity / 2)
   * }
   * ```
   */
  onSizeLessThan(limit: number, options?: WaitOptions): Promise<void> {
    if (!(limit >= 1)) throw new InvalidArgumentError(`limit must be >= 1, got ${String(limit)}`)
    if (options !== undefined) {
      checkTimeout(options.timeout)
      if (options.signal?.aborted === true) return rejected(options.signal.reason)
    }
    if (this.stateCode === ABORTED) return rejected(this.reason)
    if (this.stateCode === CLOSED) {
      return Promise.reject(new QueueClosedError('queue closed: no more items can be pushed'))
    }
    if (this.len < limit) return RESOLVED
    if (options !== undefined && options.timeout !== undefined && options.timeout <= 0) {
      return Promise.reject(new TimeoutError(0, 'queue onSizeLessThan timed out after 0 ms'))
    }
    return this.wait<void>(SPACE, limit, undefined, null, options)
  }

  /**
   * Stops accepting items; consumers get what is buffered, then end. Idempotent.
   *
   * Use it when the producer is done. Blocked senders are rejected with `QueueClosedError`;
   * `for await` loops finish normally once the buffer is drained, while `take` and
   * `takeBatch` then reject with `QueueClosedError`. No-op after `abort()`.
   *
   * @example
   * ```ts
   * try { for (const x of source) await q.send(x) } finally { q.close() }
   * ```
   */
  close(): void {
    if (this.stateCode !== OPEN) return
    this.stateCode = CLOSED
    if (this.pHead !== null) {
      const error = new QueueClosedError('queue closed while the send was waiting for room')
      this.rejectAll(SEND, error)
    }
    if (this.cHead !== null) this.endConsumers()
    if (this.sHead !== null) {
      this.rejectAll(SPACE, new QueueClosedError('queue closed: no more items can be pushed'))
    }
    this.resolveClosed?.()
  }

  /**
   * Ends everything now: discards the buffer and rejects every waiter with `reason`.
   *
   * Use it on failure or cancellation, when what is buffered is no longer wanted. Discarded
   * items are counted in `stats.dropped.aborted`. Later `take`s and iterations reject with
   * `reason` (default: an `AbortedError`). Idempotent: only the first reason counts. It also
   * works after `close()`, discarding what was still undrained.
   *
   * @example
   * ```ts
   * signal.addEventListener('abort', () => q.abort(signal.reason), { once: true })
   * ```
   */
  abort(reason?: unknown): void {
    if (this.stateCode === ABORTED) return
    const wasOpen = this.stateCode === OPEN
    this.stateCode = ABORTED
    this.reason = reason === undefined ? new AbortedError('queue aborted') : reason
    this.droppedAborted += this.len
    const slots = this.buf.length < INITIAL_SLOTS ? this.buf.length : INITIAL_SLOTS
    this.buf = newRing<T>(slots)
    this.mask = slots - 1
    this.head = 0
    this.len = 0
    if (this.pHead !== null) this.rejectAll(SEND, this.reason)
    if (this.cHead !== null) this.rejectAll(TAKE, this.reason)
    if (this.sHead !== null) this.rejectAll(SPACE, this.reason)
    if (wasOpen) this.resolveClosed?.()
  }

  /**
   * Resolves once the queue is closed or aborted (never rejects).
   *
   * Use it to tie other resources to the queue's life. The promise is created on first call.
   *
   * @example
   * ```ts
   * void q.onClose().then(() => clearInterval(flushTimer))
   * ```
   */
  onClose(): Promise<void> {
    if (this.stateCode !== OPEN) return RESOLVED
    if (this.closedPromise === undefined) {
      this.closedPromise = new Promise<void>((resolve) => {
        this.resolveClosed = resolve
      })
    }
    return this.closedPromise
  }

  /**
   * Iterates items until the queue is closed and drained.
   *
   * Use `for await (const x of q)`. Breaking out of the loop releases this consumer (the
   * queue stays open for others). Gotcha: the loop throws the abort reason after `abort()`.
   *
   * @example
   * ```ts
   * for await (const event of q) if (event.type === 'end') break
   * ```
   */
  [Symbol.asyncIterator](): QueueIterator<T> {
    return new QueueIterator<T>(this, 0)
  }

  /**
   * Iterates batches of up to `max` items (all buffered by default) until closed and drained.
   *
   * Use it for bulk consumers: one await per batch instead of per item. Each batch has at
   * least one item. Same ending and release rules as the item iterator.
   *
   * @example
   * ```ts
   * for await (const batch of q.batches(100)) await sink.write(batch)
   * ```
   */
  batches(max: number = Infinity): QueueIterator<T[]> {
    checkMax(max)
    return new QueueIterator<T[]>(this, max)
  }

  // ---- internals -------------------------------------------------------------------------

  /** Next step of an iterator; `max === 0` iterates items, otherwise batches. */
  private iterNext(owner: object, max: number): Promise<IteratorResult<unknown>> {
    if (this.len > 0) {
      return Promise.resolve({ value: max === 0 ? this.shift() : this.drain(max), done: false })
    }
    return this.waitForItems(max === 0 ? NEXT : NEXT_BATCH, max, owner, undefined)
  }

  /** Releases an iterator's pending `next()`, which resolves as done. */
  private release(owner: object): void {
    let w = this.cHead
    while (w !== null) {
      const next = w.next
      if (w.owner === owner) {
        this.unlink(w)
        w.resolve(DONE as never)
      }
      w = next
    }
  }

  private waitForItems<R>(
    kind: number,
    max: number,
    owner: object | null,
    options: WaitOptions | undefined,
  ): Promise<R> {
    if (this.stateCode === ABORTED) return rejected(this.reason)
    if (this.stateCode === CLOSED) {
      if (kind === NEXT || kind === NEXT_BATCH) return Promise.resolve(DONE as R)
      return Promise.reject(new QueueClosedError('queue is closed and drained'))
    }
    if (options !== undefined && options.timeout !== undefined && options.timeout <= 0) {
      return Promise.reject(
        new TimeoutError(0, 'queue take timed out after 0 ms: the queue is empty'),
      )
    }
    return this.wait<R>(kind, max, undefined, owner, options)
  }

  private wait<R>(
    kind: number,
    max: number,
    item: T | undefined,
    owner: object | null,
    options: WaitOptions | undefined,
  ): Promise<R> {
    // A fresh waiter and a closure executor measured faster than reusing waiters or a shared
    // executor: stores into young objects skip the old-to-young write barrier.
    const w = new Waiter<T>(this, kind, max, item, owner, noop, noop)
    const promise = new Promise<R>((resolve, reject) => {
      w.resolve = resolve
      w.reject = reject
    })
    if (kind === SEND) {
      const tail = this.pTail
      if (tail === null) this.pHead = w
      else {
        tail.next = w
        w.prev = tail
      }
      this.pTail = w
      this.pCount++
    } else if (kind === SPACE) {
      const tail = this.sTail
      if (tail === null) this.sHead = w
      else {
        tail.next = w
        w.prev = tail
      }
      this.sTail = w
    } else {
      const tail = this.cTail
      if (tail === null) this.cHead = w
      else {
        tail.next = w
        w.prev = tail
      }
      this.cTail = w
      this.cCount++
    }
    if (options !== undefined) {
      const timeout = options.timeout
      if (timeout !== undefined && timeout !== Infinity) {
        w.timeout = timeout
        w.timer = setTimeout(onWaiterTimeout, timeout, w)
      }
      const signal = options.signal
      if (signal !== undefined) {
        w.signal = signal
        signal.addEventListener('abort', w)
      }
    }
    return promise
  }

  /** Removes a waiter from its list and releases its timer and abort listener. */
  private unlink(w: Waiter<T>): void {
    w.linked = false
    const prev = w.prev
    const next = w.next
    if (w.kind === SEND) {
      if (prev === null) this.pHead = next
      else prev.next = next
      if (next === null) this.pTail = prev
      else next.prev = prev
      this.pCount--
    } else if (w.kind === SPACE) {
      if (prev === null) this.sHead = next
      else prev.next = next
      if (next === null) this.sTail = prev
      else next.prev = prev
    } else {
      if (prev === null) this.cHead = next
      else prev.next = next
      if (next === null) this.cTail = prev
      else next.prev = prev
      this.cCount--
    }
    w.prev = null
    w.next = null
    if (w.timer !== undefined) {
      clearTimeout(w.timer)
      w.timer = undefined
    }
    if (w.signal !== undefined) {
      w.signal.removeEventListener('abort', w)
      w.signal = undefined
    }
  }

  private cancel(w: Waiter<T>, reason: unknown): void {
    if (!w.linked) return
    this.unlink(w)
    w.item = undefined
    w.reject(reason)
  }

  /** Gives `item` to the first waiting consumer (the fast path). */
  private handOff(w: Waiter<T>, item: T): void {
    // Unlink the head inline: this is the hottest path of a live stream.
    const next = w.next
    this.cHead = next
    if (next === null) this.cTail = null
    else {
      next.prev = null
      w.next = null
    }
    this.cCount--
    w.linked = false
    if (w.timer !== undefined) {
      clearTimeout(w.timer)
      w.timer = undefined
    }
    if (w.signal !== undefined) {
      w.signal.removeEventListener('abort', w)
      w.signal = undefined
    }
    this.enqueued++
    this.dequeued++
    this.fastPath++
    const kind = w.kind
    if (kind === TAKE) w.resolve(item as never)
    else if (kind === NEXT) w.resolve({ value: item, done: false } as never)
    else if (w.max === 1) {
      w.resolve((kind === BATCH ? [item] : { value: [item], done: false }) as never)
    } else {
      // Only one batch fills at a time: an earlier one (served, then passed over for this
      // waiting consumer) is handed over now, so its microtask cannot be lost.
      if (this.filling !== null) this.settleFilling()
      w.batch = [item]
      this.filling = w
      // A promise reaction, not queueMicrotask: Node wraps each queueMicrotask callback in an
      // AsyncResource, several times the cost.
      void RESOLVED.then((this.settleFillingFn ??= () => this.settleFilling()))
    }
  }

  /**
   * Adds an item to the filling batch consumer's array; hands it over once full. Counters for
   * the items after the first are added at settle time (`stats` adds them meanwhile).
   */
  private fill(w: Waiter<T>, item: T): void {
    const batch = w.batch as T[]
    batch.push(item)
    if (batch.length >= w.max) this.settleFilling()
  }

  private settleFilling(): void {
    const w = this.filling
    if (w === null) return
    this.filling = null
    const batch = w.batch as T[]
    w.batch = null
    const extra = batch.length - 1
    this.enqueued += extra
    this.dequeued += extra
    this.fastPath += extra
    w.resolve((w.kind === BATCH ? batch : { value: batch, done: false }) as never)
  }

  private store(item: T): void {
    let len = this.len
    if (len === this.buf.length) this.grow()
    this.buf[(this.head + len) & this.mask] = item
    this.len = ++len
    this.enqueued++
    if (len > this.highWater) this.highWater = len
  }

  /** Doubles the ring; only the wrapped prefix moves. */
  private grow(): void {
    const old = this.buf
    const n = old.length
    const head = this.head
    const next = newRing<T>(n * 2)
    for (let i = head; i < n; i++) next[i] = old[i]
    for (let i = 0; i < head; i++) next[n + i] = old[i]
    this.buf = next
    this.mask = n * 2 - 1
  }

  private shift(): T {
    const buf = this.buf
    const head = this.head
    const item = buf[head] as T
    buf[head] = undefined
    this.dequeued++
    if (--this.len === 0) this.head = 0
    else this.head = (head + 1) & this.mask
    if (this.pHead !== null) this.admitSenders()
    if (this.sHead !== null) this.wakeSpaceWaiters()
    return item
  }

  /** Removes up to `max` items (len > 0) as an array, swapping the ring out when it can. */
  private drain(max: number): T[] {
    const len = this.len
    const n = len <= max ? len : max
    const buf = this.buf
    const head = this.head
    let out: T[]
    if (n === len && head === 0) {
      // The whole buffer, unwrapped: hand over the ring itself (the double-buffer swap).
      // (Size the fresh ring before truncating: `out` is `buf`.)
      const slots = buf.length <= MAX_FRESH_SLOTS ? buf.length : MAX_FRESH_SLOTS
      this.buf = newRing<T>(slots)
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
    this.dequeued += n
    if (this.pHead !== null) this.admitSenders()
    if (this.sHead !== null) this.wakeSpaceWaiters()
    return out
  }

  /** Moves blocked senders' items into freed room, in the order they started waiting. */
  private admitSenders(): void {
    let w = this.pHead
    while (w !== null && this.len < this.capacity) {
      const item = w.item as T
      this.unlink(w)
      w.item = undefined
      this.store(item)
      w.resolve(undefined as never)
      w = this.pHead
    }
  }

  /** The full-queue path of `push`/`send` for every policy. */
  private overflow(item: T): boolean {
    switch (this.policyCode) {
      case DROP_OLDEST: {
        // One out, one in: the length stays. On a full-sized ring the tail slot is the head's.
        const buf = this.buf
        const mask = this.mask
        const head = this.head
        buf[head] = undefined
        const next = (head + 1) & mask
        buf[(next + this.len - 1) & mask] = item
        this.head = next
        this.droppedOldest++
        this.enqueued++
        return true
      }
      case DROP_NEWEST:
        this.droppedNewest++
        return false
      case ERROR:
        throw new QueueFullError(this.capacity)
      default:
        return false
    }
  }

  /** At close with an empty buffer: iterators end, takes reject. */
  private endConsumers(): void {
    let error: QueueClosedError | undefined
    let w = this.cHead
    while (w !== null) {
      this.unlink(w)
      if (w.kind === NEXT || w.kind === NEXT_BATCH) w.resolve(DONE as never)
      else w.reject((error ??= new QueueClosedError('queue closed while the take was waiting')))
      w = this.cHead
    }
  }

  private rejectAll(kind: number, reason: unknown): void {
    const head = (): Waiter<T> | null =>
      kind === SEND ? this.pHead : kind === SPACE ? this.sHead : this.cHead
    let w = head()
    while (w !== null) {
      this.unlink(w)
      w.item = undefined
      w.reject(reason)
      w = head()
    }
  }

  /** Resolves the onSizeLessThan waiters whose limit the buffer is now under. */
  private wakeSpaceWaiters(): void {
    let w = this.sHead
    while (w !== null) {
      const next = w.next
      if (this.len < w.max) {
        this.unlink(w)
        w.resolve(undefined as never)
      }
      w = next
    }
  }

  private closedError(): Error {
    if (this.stateCode === ABORTED) {
      // The abort's reason rides along as the cause, so a producer learns why.
      return new QueueClosedError('queue was aborted', { cause: this.reason })
    }
    return new QueueClosedError('queue is closed')
  }
}

/**
 * The async iterator returned by `AsyncQueue[Symbol.asyncIterator]()` and `batches()`.
 *
 * Use it through `for await`; call `return()` (what `break` does) to stop early, which
 * releases a pending `next()` (it resolves as done) and leaves the queue open for others.
 * Also disposable: `await using it = q.batches()`.
 *
 * @example
 * ```ts
 * const it = q[Symbol.asyncIterator]()
 * const first = await it.next()
 * await it.return()
 * ```
 */
export class QueueIterator<R> implements AsyncIterableIterator<R> {
  private finished = false

  /** @internal Created by {@link AsyncQueue}; `max === 0` yields items, else batches. */
  constructor(
    private readonly queue: AsyncQueue<unknown>,
    private readonly max: number,
  ) {}

  /**
   * Resolves with the next item (or batch), or done once the queue is closed and drained.
   *
   * @example
   * ```ts
   * const { value, done } = await it.next()
   * ```
   */
  next(): Promise<IteratorResult<R, undefined>> {
    if (this.finished) return Promise.resolve(DONE)
    return this.queue['iterNext'](this, this.max) as Promise<IteratorResult<R, undefined>>
  }

  /**
   * Stops this iterator and releases its pending `next()`, if any. The queue stays open.
   *
   * @example
   * ```ts
   * await it.return()
   * ```
   */
  return(): Promise<IteratorResult<R, undefined>> {
    if (!this.finished) {
      this.finished = true
      this.queue['release'](this)
    }
    return Promise.resolve(DONE)
  }

  /**
   * Returns itself, so the iterator is usable in `for await`.
   *
   * @example
   * ```ts
   * for await (const x of it) console.log(x)
   * ```
   */
  [Symbol.asyncIterator](): this {
    return this
  }

  /**
   * Same as `return()`, for `await using`.
   *
   * @example
   * ```ts
   * await using it = q.batches()
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return()
  }
}
