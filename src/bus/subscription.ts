/**
 * One subscriber of the bus: a bounded buffer between the instance's shared pattern
 * listener and a reader. A slow reader loses the oldest messages, never silently: every
 * drop is counted in `stats.dropped`, and `onDrop` is told. A backend interruption (the
 * pub/sub connection dropped, messages may be lost) is counted and reported the same way.
 * With a schema, every message is checked before it is buffered, in arrival order even when
 * the validator is async; a message that fails is counted in `stats.invalid`, reported to
 * `onInvalid`, and not delivered: a typed subscriber never sees data its type does not hold.
 */
import type { Context } from '../context.js'
import { ValidationError } from '../events/errors.js'
import { type StandardSchemaV1, toIssues } from '../events/schema.js'
import { AsyncQueue, type QueueIterator } from '../queue/index.js'

/**
 * A message on the bus.
 *
 * @example
 * ```ts
 * for await (const { channel, data, ts } of sub) console.log(channel, data, ts)
 * ```
 */
export interface BusMessage<T = unknown> {
  readonly channel: string
  readonly data: T
  /** Publish time, epoch ms. */
  readonly ts: number
}

/**
 * What a backend interruption tells: the window (epoch ms) in which messages may have been
 * lost. Pub/sub keeps nothing, so a subscriber that needs every message re-syncs from its
 * source of truth when told.
 *
 * @example
 * ```ts
 * rb.bus.subscribe('prices.>', { onInterrupted: ({ since, until }) => refetch(since, until) })
 * ```
 */
export interface InterruptionInfo {
  since: number
  until: number
}

/**
 * Options of `subscribe`.
 *
 * @example
 * ```ts
 * rb.bus.subscribe('orders.>', { bufferSize: 100, onInterrupted: () => resync() })
 * ```
 */
export interface SubscribeOptions {
  /** Ends the subscription; the loop then throws `signal.reason`. */
  signal?: AbortSignal
  /** Messages buffered for a slow reader before the oldest are dropped (default 1,000). */
  bufferSize?: number
  /** Called when the backend's connection dropped and messages may have been lost. */
  onInterrupted?: (info: InterruptionInfo) => void
  /** Called when buffered messages were dropped because the reader is slow. */
  onDrop?: (dropped: number) => void
  /**
   * Checks each message's data (any Standard Schema: zod, valibot, arktype…) and delivers
   * the schema's output. Typed channels pass theirs, so a publisher that bypassed the schema
   * (raw `publish`, another process) cannot hand subscribers data of the wrong shape.
   */
  schema?: StandardSchemaV1
  /** Called with the reason when a message failed `schema` (it is counted and skipped). */
  onInvalid?: (error: ValidationError, message: BusMessage) => void
}

/**
 * Counters of one subscription.
 *
 * @example
 * ```ts
 * if (sub.stats.dropped > 0) console.warn('slow subscriber')
 * ```
 */
export interface SubscriptionStats {
  /** Messages that matched and were offered to the buffer. */
  received: number
  /** Messages dropped because the buffer was full (oldest first). */
  dropped: number
  /** Backend interruptions reported (messages may have been lost meanwhile). */
  interrupted: number
  /** Messages that failed the subscription's schema, skipped. */
  invalid: number
}

/** Internal: how a subscription hooks into the shared pattern listener. */
export interface Attachment {
  readonly ready: Promise<void>
  detach(): void
}

/**
 * A live subscription to a channel pattern: an async iterable of messages.
 *
 * Use `for await`; `break`, `close()` or `await using` release it. Gotchas: messages
 * published before `ready` resolved may be missed by other processes' publishes (this
 * instance's own publishes wait for it); one reader per subscription.
 *
 * @example
 * ```ts
 * await using sub = rb.bus.subscribe('jobs.*.done')
 * await sub.ready
 * for await (const msg of sub) console.log(msg.channel, msg.data)
 * ```
 */
export class Subscription<T = unknown> implements AsyncIterable<BusMessage<T>> {
  /** The pattern subscribed to. */
  readonly pattern: string
  /** Resolves once messages published from now on (from any process) will be delivered. */
  readonly ready: Promise<void>
  /** Resolves once the subscription ended. Never rejects. */
  readonly closed: Promise<void>
  private readonly queue: AsyncQueue<BusMessage<T>>
  private readonly options: SubscribeOptions
  private readonly counts = { received: 0, interrupted: 0, invalid: 0 }
  /** Validations still running (async schemas), in arrival order. */
  private checking: Promise<void> | undefined
  private attachment: Attachment | undefined
  private untrack: (() => void) | undefined
  private ended = false
  private resolveClosed!: () => void
  private readonly onAbort = (): void => this.end(this.options.signal?.reason)

  /** @internal Use `rb.bus.subscribe()`. */
  constructor(
    ctx: Context,
    pattern: string,
    options: SubscribeOptions,
    attach: (sub: Subscription<T>) => Attachment,
  ) {
    this.pattern = pattern
    this.options = options
    this.queue = new AsyncQueue({ capacity: options.bufferSize ?? 1000, policy: 'drop-oldest' })
    this.closed = new Promise((r) => (this.resolveClosed = r))
    this.untrack = ctx.track('subscription', { close: (reason) => this.end(reason) })
    this.attachment = attach(this)
    this.ready = this.attachment.ready
    // A failed subscribe ends the loop with the error; `ready` rejects for whoever awaits it.
    this.ready.catch((err: unknown) => this.end(err))
    const signal = options.signal
    if (signal !== undefined) {
      if (signal.aborted) this.end(signal.reason)
      else signal.addEventListener('abort', this.onAbort, { once: true })
    }
  }

  /** Counters, exact at every moment. */
  get stats(): SubscriptionStats {
    return { ...this.counts, dropped: this.queue.stats.dropped.oldest }
  }

  /** @internal A matching message arrived. */
  deliver(msg: BusMessage<T>): void {
    if (this.ended) return
    const schema = this.options.schema
    if (schema === undefined) {
      this.accept(msg)
      return
    }
    // Keep arrival order: once an async check is pending, later messages queue behind it.
    if (this.checking !== undefined) {
      this.track(this.checking.then(() => this.check(schema, msg)))
      return
    }
    const pending = this.check(schema, msg)
    if (pending !== undefined) this.track(pending)
  }

  private track(p: Promise<void>): void {
    this.checking = p
    void p.then(() => {
      if (this.checking === p) this.checking = undefined
    })
  }

  /** Validates; returns a promise only when the validator is async. Never rejects. */
  private check(schema: StandardSchemaV1, msg: BusMessage<T>): Promise<void> | undefined {
    let result: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
    try {
      result = schema['~standard'].validate(msg.data)
    } catch (err) {
      this.invalid(msg, [{ message: err instanceof Error ? err.message : String(err) }])
      return undefined
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.settle(msg, r),
        (err: unknown) =>
          this.invalid(msg, [{ message: err instanceof Error ? err.message : String(err) }]),
      )
    }
    this.settle(msg, result)
    return undefined
  }

  private settle(msg: BusMessage<T>, r: StandardSchemaV1.Result<unknown>): void {
    if (r.issues !== undefined) this.invalid(msg, toIssues(r.issues))
    else this.accept({ channel: msg.channel, data: r.value as T, ts: msg.ts })
  }

  private invalid(msg: BusMessage<T>, issues: ValidationError['issues']): void {
    if (this.ended) return
    this.counts.invalid++
    this.options.onInvalid?.(new ValidationError(issues, `data on ${msg.channel}`), msg)
  }

  private accept(msg: BusMessage<T>): void {
    if (this.ended) return
    this.counts.received++
    const before = this.queue.stats.dropped.oldest
    this.queue.push(msg)
    if (this.options.onDrop !== undefined && this.queue.stats.dropped.oldest > before) {
      this.options.onDrop(this.queue.stats.dropped.oldest)
    }
  }

  /** @internal The backend reported an interruption. */
  interrupted(info: InterruptionInfo): void {
    if (this.ended) return
    this.counts.interrupted++
    this.options.onInterrupted?.(info)
  }

  /** Iterates messages; `break` ends the subscription. */
  [Symbol.asyncIterator](): AsyncIterator<BusMessage<T>, undefined> {
    const it: QueueIterator<BusMessage<T>> = this.queue[Symbol.asyncIterator]()
    return {
      next: () => it.next(),
      return: () => {
        this.close()
        return it.return()
      },
    }
  }

  /** Ends the subscription; the loop finishes after what is buffered. Idempotent. */
  close(): void {
    this.end(undefined)
  }

  /** `await using sub = …` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.end(undefined)
  }

  private end(reason: unknown): void {
    if (this.ended) return
    this.ended = true
    this.attachment?.detach()
    this.attachment = undefined
    this.untrack?.()
    this.untrack = undefined
    this.options.signal?.removeEventListener('abort', this.onAbort)
    if (reason === undefined) this.queue.close()
    else this.queue.abort(reason)
    this.resolveClosed()
  }
}
