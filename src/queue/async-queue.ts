/*
 * AsyncQueue — the in-process channel every other runbus part is built on.
 *
 * Why it exists: run streams, the bus, the work queue and the hub all move items from
 * producers that must never block the event loop to consumers that await them. One
 * well-tested channel with explicit overflow policies, cancellable waits and exact
 * counters is cheaper to trust than five ad-hoc ones.
 *
 * One concept per file: storage is a ring buffer (`ring.ts`), waiting consumers, blocked
 * senders and size waiters are one kind of list (`waiters.ts`), and what a full queue does is
 * a strategy per policy (`overflow.ts`). This file only decides who gets what, and counts.
 * It also keeps two slots in front of the lists: the first waiting item iterator and the
 * first blocked plain `send()`, as bare fields, because those are how user code meets the
 * queue (`for await`, `await send()`) and a Waiter costs them a sixth of a handoff.
 *
 * Invariants kept between any two calls (the property test checks them after every step):
 *  - consumers wait only on an empty buffer:      waitingConsumers > 0  ⇒ size === 0
 *  - producers wait only on a full, open buffer:  waitingProducers > 0  ⇒ size === capacity
 *    (so both lists are never non-empty at once, and only the 'block' policy has producers);
 *    with a `lowWaterMark` below `capacity - 1`, on a buffer still above that mark since it
 *    was last full:                                waitingProducers > 0  ⇒ size > lowWaterMark
 *  - nothing disappears uncounted: enqueued === dequeued + size + dropped.oldest + dropped.aborted
 *  - items leave in acceptance order; waiting consumers are served, and blocked senders are
 *    accepted, in the order they started waiting
 *  - a settled waiter is in no list, owns no timer and no abort listener.
 *  - at most one batch consumer is "filling" (served, not yet woken: it absorbs the rest of a
 *    synchronous burst, up to its max); while one fills, the buffer is empty.
 */
import {
  AbortedError,
  InvalidArgumentError,
  QueueClosedError,
  TimeoutError,
} from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { type Overflow, type OverflowPolicy, overflowStrategy } from './overflow.js'
import { Ring } from './ring.js'
import { BATCH, NEXT, NEXT_BATCH, SEND, SPACE, TAKE, type Waiter, WaiterList } from './waiters.js'

export type { OverflowPolicy } from './overflow.js'

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
  /**
   * Under `block`: once a producer has been refused (`push` returned `false`, or `send` had
   * to wait), producers stay held until the buffer has drained to this many items; then the
   * blocked senders are let in, in order, and `push` accepts again. An integer from `0` to
   * `capacity - 1`; the default, `capacity - 1`, lets a sender in as soon as one slot frees.
   *
   * Use it for a producer that `await`s `send()` on a queue the consumer keeps full: with
   * `capacity / 2`, it is resumed once per half a queue instead of once per item (a stream's
   * `'drain'`, or `events.on`'s `lowWaterMark`). Gotcha: only with a finite `capacity` and
   * the `block` policy; anything else is an `InvalidArgumentError`.
   */
  readonly lowWaterMark?: number | undefined
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

// States as small integers: the hot paths compare them on every call.
const OPEN = 0
const CLOSED = 1
const ABORTED = 2
const STATE_NAMES: readonly QueueState[] = ['open', 'closed', 'aborted']

const RESOLVED: Promise<void> = Promise.resolve()
/** The filling batch while none fills (frozen: a push into it would be a bug, and throws). */
const EMPTY_BATCH: readonly never[] = Object.freeze([])
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

/** A rejected promise with a reason we pass through as is (a signal's reason may be anything). */
function rejected<R>(reason: unknown): Promise<R> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- pass-through
  return Promise.reject(reason)
}

function checkTimeout(timeout: number | undefined): void {
  if (timeout !== undefined && !(timeout >= 0)) {
    throw new InvalidArgumentError(`timeout must be a number >= 0 (ms), got ${String(timeout)}`)
  }
}

/**
 * The low-water mark for a queue of `capacity` under `overflow`: `capacity - 1` when not
 * given, else an integer in `[0, capacity)` on a bounded `block` queue.
 */
function checkLowWaterMark(mark: number | undefined, capacity: number, overflow: Overflow): number {
  if (mark === undefined) return capacity - 1
  if (capacity === Infinity || overflow.policy !== 'block') {
    throw new InvalidArgumentError(
      `lowWaterMark needs a finite capacity and the 'block' policy, got capacity ${capacity} and policy '${overflow.policy}'`,
    )
  }
  if (!Number.isInteger(mark) || mark < 0 || mark >= capacity) {
    throw new InvalidArgumentError(
      `lowWaterMark must be an integer from 0 to capacity - 1 (${capacity - 1}), got ${mark}`,
    )
  }
  return mark
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
  /** Under `block`: the size a refused queue must drain to before producers are let in. */
  readonly lowWaterMark: number

  private stateCode = OPEN
  private reason: unknown = undefined

  /** Storage: the buffered items. */
  private readonly ring: Ring<T>
  /** The full-queue policy, with its own drop counters. */
  private readonly overflow: Overflow
  /** Waiting consumers (take, takeBatch, iterators), in the order they started waiting. */
  private readonly consumers = new WaiterList<T>()
  /** Blocked senders, in the order they called `send`. */
  private readonly producers = new WaiterList<T>()
  /** onSizeLessThan waiters: unordered in effect (each has its own limit). */
  private readonly spaceWaiters = new WaiterList<T>()

  // Buffered acceptances and takes from the buffer; handoffs are counted only in fastPath
  // (`stats` adds them to both), so the fast path bumps one counter, not three.
  private enqueued = 0
  private dequeued = 0
  private fastPath = 0
  private droppedAborted = 0
  private highWater = 0
  /**
   * The size at which producers are refused: `capacity`, or `lowWaterMark + 1` from the
   * first refusal until the buffer drains to the mark (the hysteresis). The same number as
   * `capacity` when the mark is `capacity - 1`, so the default costs nothing.
   */
  private limit: number

  // A batch consumer that was waiting and got an item keeps receiving the items pushed in the
  // same synchronous run (up to its max, after any consumers still waiting are served) until
  // a microtask hands the array over: a burst reaches it as one batch. It no longer counts
  // as waiting. While it fills, the buffer stays empty.
  private filling: Waiter<T> | null = null
  /**
   * The filling consumer's batch and its `max`, kept here rather than on its Waiter: `fill`
   * runs once per pushed item, and a field of the queue is a monomorphic load where the
   * waiter's `batch` (null on most waiters) is not (cpu-prof: the push into it was the
   * hottest line of S5).
   */
  private fillBatch: T[] = EMPTY_BATCH as unknown as T[]
  private fillMax = 0
  // The slots: the plain `for await` consumer and the plain `await send()` producer, held as
  // two fields each instead of a Waiter in a list (callgrind: a handoff costs 16% fewer
  // instructions, a blocked send 11%). A slot is taken only while its list is empty and no
  // timeout or signal is asked, and served before the list, so FIFO order holds.
  // The first waiting item iterator: its resolve and owner (`slotOwner !== null` = taken).
  private slotResolve: ((r: IteratorResult<unknown> | Promise<never>) => void) | null = null
  private slotOwner: object | null = null
  // The first blocked `send()`: its resolve (`!== null` = taken) and item.
  private senderResolve: ((v: undefined | Promise<never>) => void) | null = null
  private senderItem: T | undefined = undefined
  private settleFillingFn: (() => void) | undefined = undefined

  private closedPromise: Promise<void> | undefined = undefined
  private resolveClosed: (() => void) | undefined = undefined

  /**
   * Creates a queue.
   *
   * @throws InvalidArgumentError if `capacity` is not a positive integer or `Infinity`, `policy`
   * is unknown, or `lowWaterMark` is not an integer below `capacity` on a bounded `block` queue.
   *
   * @example
   * ```ts
   * const q = new AsyncQueue<number>({ capacity: 256, policy: 'drop-newest' })
   * ```
   */
  constructor(options: AsyncQueueOptions = {}) {
    checkOptions('AsyncQueue', options, {
      capacity: 'number',
      policy: 'string',
      lowWaterMark: 'number',
    })
    const capacity = options.capacity ?? Infinity
    if (!(capacity >= 1) || (capacity !== Infinity && !Number.isInteger(capacity))) {
      throw new InvalidArgumentError(
        `capacity must be a positive integer or Infinity, got ${String(capacity)}`,
      )
    }
    this.overflow = overflowStrategy(options.policy ?? 'block', capacity)
    this.capacity = capacity
    this.lowWaterMark = checkLowWaterMark(options.lowWaterMark, capacity, this.overflow)
    this.limit = capacity
    this.ring = new Ring<T>(capacity)
  }

  /** What a full queue does with new items. */
  get policy(): OverflowPolicy {
    return this.overflow.policy
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
    return this.ring.len
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
    // A handoff is counted once, in fastPath: it is also an enqueue and a dequeue.
    const fast = this.fastPath + (this.filling === null ? 0 : this.fillBatch.length - 1)
    return {
      enqueued: this.enqueued + fast,
      dequeued: this.dequeued + fast,
      fastPath: fast,
      dropped: {
        oldest: this.overflow.oldest,
        newest: this.overflow.newest,
        aborted: this.droppedAborted,
      },
      size: this.ring.len,
      highWater: this.highWater,
      waitingConsumers: this.consumers.count + (this.slotOwner === null ? 0 : 1),
      waitingProducers: this.producers.count + (this.senderResolve === null ? 0 : 1),
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
    // Kept small so it inlines into the caller's loop: the common cases (an iterator waiting
    // in the slot, so the queue is open and empty: the plain `for await` handoff; room in the
    // buffer; a full open buffer) are handled here, the rest in pushSlow.
    const r = this.slotResolve
    if (r !== null) return this.handToSlot(r, item)
    const ring = this.ring
    const len = ring.len
    if (this.stateCode === OPEN) {
      if (len >= this.limit) {
        // Full (or held above the low-water mark), so no consumer is waiting or filling
        // (they only wait on an empty buffer).
        if (this.overflow.offer(ring, item)) {
          this.enqueued++
          return true
        }
        this.limit = this.lowWaterMark + 1 // refused: held until drained to the mark
        return false
      }
      if (len > 0) {
        ring.push(item)
        this.enqueued++
        if (len >= this.highWater) this.highWater = len + 1
        return true
      }
    }
    return this.pushSlow(item)
  }

  /** `push` on an empty buffer (a consumer may be waiting or filling), or on a closed queue. */
  private pushSlow(item: T): boolean {
    if (this.stateCode !== OPEN) throw this.closedError()
    const r = this.slotResolve
    if (r !== null) return this.handToSlot(r, item)
    const w = this.consumers.head
    if (w !== null) {
      this.handOff(w, item)
      return true
    }
    if (this.filling !== null) {
      this.fill(item)
      return true
    }
    this.store(item)
    return true
  }

  /**
   * Offers an item, waiting for room while a `block` queue is full.
   *
   * Use it for producers that must not lose items and should slow down to the consumer's
   * pace. Blocked senders are accepted in the order they called `send`. For a hot producer
   * on a queue that stays full, a `lowWaterMark` (or `push` plus
   * {@link AsyncQueue.onSizeLessThan}) wakes it once per burst instead of once per item.
   * Under the other
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
    if (this.ring.len < this.limit) {
      this.pushSlow(item)
      return RESOLVED
    }
    if (!this.overflow.waits) {
      try {
        if (this.overflow.offer(this.ring, item)) this.enqueued++
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
    this.limit = this.lowWaterMark + 1 // it waits: held until drained to the mark
    if (
      this.senderResolve === null &&
      this.producers.head === null &&
      (options === undefined ||
        ((options.timeout === undefined || options.timeout === Infinity) &&
          options.signal === undefined))
    ) {
      this.senderItem = item
      return new Promise<void>((resolve) => {
        this.senderResolve = resolve
      })
    }
    return this.producers.wait<void>(SEND, 0, item, null, options)
  }

  /** Rejects every blocked sender with `reason`, the slot's first (it waited longest). */
  private refuseSenders(reason: unknown): void {
    if (this.senderResolve !== null) this.settleSender(true, reason)
    this.producers.rejectAll(reason)
  }

  /**
   * Settles the blocked sender in the slot: accepted, or refused with `reason`. No reject
   * function is kept (one store less per wait): resolving with a rejected promise rejects
   * the same `send()`, two microtasks later.
   */
  private settleSender(refused: boolean, reason: unknown): void {
    const resolve = this.senderResolve as (v: undefined | Promise<never>) => void
    this.senderResolve = null
    this.senderItem = undefined
    resolve(refused ? rejected<never>(reason) : undefined)
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
    if (this.ring.len > 0) return Promise.resolve(this.shift())
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
    if (this.ring.len > 0) return Promise.resolve(this.drain(max))
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
    return this.ring.len > 0 ? this.shift() : undefined
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
    return this.ring.len > 0 ? this.drain(max) : []
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
    if (this.ring.len < limit) return RESOLVED
    if (options !== undefined && options.timeout !== undefined && options.timeout <= 0) {
      return Promise.reject(new TimeoutError(0, 'queue onSizeLessThan timed out after 0 ms'))
    }
    return this.spaceWaiters.wait<void>(SPACE, limit, undefined, null, options)
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
    if (this.senderResolve !== null || this.producers.head !== null) {
      this.refuseSenders(new QueueClosedError('queue closed while the send was waiting for room'))
    }
    if (this.slotOwner !== null) this.settleSlot(DONE, undefined)
    if (this.consumers.head !== null) this.endConsumers()
    if (this.spaceWaiters.head !== null) {
      this.spaceWaiters.rejectAll(new QueueClosedError('queue closed: no more items can be pushed'))
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
    this.droppedAborted += this.ring.clear()
    this.limit = this.capacity
    if (this.senderResolve !== null || this.producers.head !== null) {
      this.refuseSenders(this.reason)
    }
    if (this.slotOwner !== null) this.settleSlot(undefined, this.reason)
    if (this.consumers.head !== null) this.consumers.rejectAll(this.reason)
    if (this.spaceWaiters.head !== null) this.spaceWaiters.rejectAll(this.reason)
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
    if (this.ring.len > 0) {
      return Promise.resolve({ value: max === 0 ? this.shift() : this.drain(max), done: false })
    }
    if (
      max === 0 &&
      this.stateCode === OPEN &&
      this.slotOwner === null &&
      this.consumers.head === null
    ) {
      this.slotOwner = owner
      return new Promise<IteratorResult<unknown>>((resolve) => {
        this.slotResolve = resolve
      })
    }
    return this.waitForItems(max === 0 ? NEXT : NEXT_BATCH, max, owner, undefined)
  }

  /**
   * Settles the slot's waiting iterator with `result`, or rejects it with `reason` (as for a
   * slot sender: by resolving with a rejected promise, no reject function kept).
   */
  private settleSlot(result: IteratorResult<T> | undefined, reason: unknown): void {
    const resolve = this.slotResolve as (r: IteratorResult<unknown> | Promise<never>) => void
    this.slotResolve = null
    this.slotOwner = null
    resolve(result !== undefined ? result : rejected<never>(reason))
  }

  /** Releases an iterator's pending `next()`, which resolves as done. */
  private release(owner: object): void {
    if (this.slotOwner === owner) this.settleSlot(DONE, undefined)
    let w = this.consumers.head
    while (w !== null) {
      const next = w.next
      if (w.owner === owner) {
        this.consumers.remove(w)
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
    return this.consumers.wait<R>(kind, max, undefined, owner, options)
  }

  /** Gives `item` to the iterator waiting in the slot (its resolve is `r`). */
  private handToSlot(r: (result: IteratorResult<unknown>) => void, item: T): true {
    this.slotResolve = null
    this.slotOwner = null
    this.fastPath++
    r({ value: item, done: false })
    return true
  }

  /** Gives `item` to the first waiting consumer `w` (the fast path). */
  private handOff(w: Waiter<T>, item: T): void {
    const consumers = this.consumers
    consumers.shift()
    this.fastPath++
    const kind = w.kind
    if (kind === NEXT) {
      w.resolve({ value: item, done: false } as never)
      consumers.recycle(w)
    } else if (kind === TAKE) {
      w.resolve(item as never)
      consumers.recycle(w)
    } else if (w.max === 1) {
      w.resolve((kind === BATCH ? [item] : { value: [item], done: false }) as never)
      consumers.recycle(w)
    } else {
      // Only one batch fills at a time: an earlier one (served, then passed over for this
      // waiting consumer) is handed over now, so its microtask cannot be lost.
      if (this.filling !== null) this.settleFilling()
      this.fillBatch = [item]
      this.fillMax = w.max
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
  private fill(item: T): void {
    const batch = this.fillBatch
    batch.push(item)
    if (batch.length >= this.fillMax) this.settleFilling()
  }

  private settleFilling(): void {
    const w = this.filling
    if (w === null) return
    this.filling = null
    const batch = this.fillBatch
    this.fillBatch = EMPTY_BATCH as unknown as T[]
    this.fastPath += batch.length - 1
    w.resolve((w.kind === BATCH ? batch : { value: batch, done: false }) as never)
    // Out of the list since handOff, and nothing else holds it: the next wait reuses it.
    this.consumers.recycle(w)
  }

  /** Buffers an item there is room for. */
  private store(item: T): void {
    const ring = this.ring
    ring.push(item)
    this.enqueued++
    if (ring.len > this.highWater) this.highWater = ring.len
  }

  /** Takes the oldest item (len > 0), then lets waiting producers into the freed room. */
  private shift(): T {
    const item = this.ring.shift()
    this.dequeued++
    this.afterTake()
    return item
  }

  /** Takes up to `max` items (len > 0), then lets waiting producers into the freed room. */
  private drain(max: number): T[] {
    const out = this.ring.take(max)
    this.dequeued += out.length
    this.afterTake()
    return out
  }

  /** After a take: lets waiting producers into the freed room, and wakes space waiters. */
  private afterTake(): void {
    if (this.ring.len < this.limit) {
      // At or below the low-water mark (any size below a full buffer by default).
      if (this.senderResolve !== null || this.producers.head !== null) this.admitSenders()
      else if (this.limit !== this.capacity) this.limit = this.capacity
    }
    if (this.spaceWaiters.head !== null) this.wakeSpaceWaiters()
  }

  /**
   * Moves blocked senders' items into freed room (the buffer has drained to the low-water
   * mark), in the order they started waiting: the slot's sender first (it is taken only
   * while the list is empty). Producers are accepted up to `capacity` again; any sender
   * still waiting once it is full holds them until the next drain to the mark.
   */
  private admitSenders(): void {
    this.limit = this.capacity
    if (this.senderResolve !== null) {
      this.store(this.senderItem as T)
      this.settleSender(false, undefined)
    }
    const producers = this.producers
    while (producers.head !== null && this.ring.len < this.capacity) {
      const w = producers.shift() as Waiter<T>
      this.store(w.item as T)
      w.resolve(undefined as never)
      producers.recycle(w)
    }
    if (producers.head !== null) this.limit = this.lowWaterMark + 1
  }

  /** At close with an empty buffer: iterators end, takes reject. */
  private endConsumers(): void {
    let error: QueueClosedError | undefined
    let w: Waiter<T> | null
    while ((w = this.consumers.shift()) !== null) {
      if (w.kind === NEXT || w.kind === NEXT_BATCH) w.resolve(DONE as never)
      else w.reject((error ??= new QueueClosedError('queue closed while the take was waiting')))
    }
  }

  /** Resolves the onSizeLessThan waiters whose limit the buffer is now under. */
  private wakeSpaceWaiters(): void {
    const len = this.ring.len
    let w = this.spaceWaiters.head
    while (w !== null) {
      const next = w.next
      if (len < w.max) {
        this.spaceWaiters.remove(w)
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
