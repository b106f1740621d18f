/**
 * `rb.bus`: publish/subscribe on dot-separated channels, nothing kept.
 *
 * Invariants:
 * - One backend subscription per pattern per instance, shared by every local subscriber and
 *   waiter of that pattern; a message is decoded once per pattern, not per subscriber.
 * - Local listeners attach synchronously. `publish` from this instance first waits for this
 *   instance's pending backend subscriptions whose pattern matches the channel, so "wait,
 *   then publish" is never missed in one process, whatever the backend's latency. For a
 *   publisher in another process, await `subscription.ready` (or the `ready` of
 *   `waitForReady`) first: no backend can promise more than that.
 * - Payloads travel as `{"ts":<ms>,"data":<json>}`; the size limit applies to the data's
 *   JSON, checked before anything is sent.
 */
import type { Unsubscribe } from '../contract/contract.js'
import type { Context } from '../context.js'
import { encodePayload } from '../events/codec.js'
import { InvalidArgumentError, TimeoutError } from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import {
  validate,
  type SchemaInput,
  type SchemaOutput,
  type StandardSchemaV1,
} from '../events/schema.js'
import { checkChannel, checkPattern, compilePattern } from '../contract/patterns.js'
import {
  Subscription,
  type Attachment,
  type BusMessage,
  type InterruptionInfo,
  type SubscribeOptions,
} from './subscription.js'

/**
 * What `waitFor` takes.
 *
 * @example
 * ```ts
 * await rb.bus.waitFor('jobs.42.*', { filter: (m) => m.data.ok, timeout: 5_000 })
 * ```
 */
export interface WaitForOptions<T = unknown> {
  /** Only a message for which this returns true resolves the wait. */
  filter?: (msg: BusMessage<T>) => boolean
  /** Milliseconds before rejecting with `TimeoutError`. */
  timeout?: number
  /** Cancels the wait (rejects with `signal.reason`). */
  signal?: AbortSignal
}

/**
 * A pending `waitFor`: a promise of the first match, plus `ready` for cross-process use.
 *
 * @example
 * ```ts
 * const w = rb.bus.waitForReady('deploy.done')
 * await w.ready            // now another process may publish
 * const msg = await w.message
 * ```
 */
export interface PendingWait<T = unknown> {
  /** The first matching message. */
  readonly message: Promise<BusMessage<T>>
  /** Resolves once a publish from any process will be seen. */
  readonly ready: Promise<void>
  /** Stops waiting (the message promise rejects with an `AbortedError`-like reason). */
  cancel(reason?: unknown): void
}

/**
 * A typed channel: its data is checked by a Standard Schema on publish, and typed on
 * subscribe.
 *
 * Readers check it too: the publisher sends the input it validated, and every subscriber
 * and `waitFor` applies the schema and gets its output. So a process publishing on the raw
 * channel with `rb.bus.publish` cannot hand them data of the wrong shape (a subscription
 * counts such messages in `stats.invalid` and reports them to `onInvalid`; a wait skips
 * them).
 *
 * @example
 * ```ts
 * const orders = rb.bus.channel('orders.created', { schema: z.object({ id: z.string() }) })
 * await orders.publish({ id: 'o1' })
 * for await (const m of orders.subscribe()) m.data.id
 * ```
 */
export interface Channel<In, Out> {
  readonly name: string
  /** Validates, then publishes the schema's output. @throws ValidationError, PayloadTooLargeError */
  publish(data: In): Promise<void>
  subscribe(options?: SubscribeOptions): Subscription<Out>
  waitFor(options?: WaitForOptions<Out>): Promise<BusMessage<Out>>
}

/**
 * `rb.bus`.
 *
 * @example
 * ```ts
 * const sub = rb.bus.subscribe('chat.*.typing')
 * await rb.bus.publish('chat.42.typing', { user: 'ada' })
 * ```
 */
export interface BusApi {
  /**
   * Publishes `data` (JSON) on a channel.
   * @throws InvalidArgumentError (bad channel), PayloadTooLargeError (rejects; never truncated).
   */
  publish(channel: string, data: unknown): Promise<void>
  /** Subscribes to a pattern (`*` one segment, `>` the rest). */
  subscribe<T = unknown>(pattern: string, options?: SubscribeOptions): Subscription<T>
  /**
   * The first message matching `pattern` (and `filter`). The waiter is registered before this
   * returns, so a publish from this instance right after the call is never missed.
   * @throws TimeoutError, the signal's reason, ClosedError.
   */
  waitFor<T = unknown>(pattern: string, options?: WaitForOptions<T>): Promise<BusMessage<T>>
  /** Like `waitFor`, also exposing `ready` (for a publisher in another process). */
  waitForReady<T = unknown>(pattern: string, options?: WaitForOptions<T>): PendingWait<T>
  /** A typed channel checked by any Standard Schema (zod, valibot, arktype…). */
  channel<S extends StandardSchemaV1>(
    name: string,
    options: { schema: S },
  ): Channel<SchemaInput<S>, SchemaOutput<S>>
  /** A channel typed by a type parameter only (no runtime check). */
  channel<T>(name: string): Channel<T, T>
}

interface LocalListener {
  message(msg: BusMessage<unknown>): void
  interrupted(info: InterruptionInfo): void
  failed(err: unknown): void
}

interface Entry {
  readonly pattern: string
  readonly match: (channel: string) => boolean
  readonly listeners: Set<LocalListener>
  ready: Promise<void>
  settled: boolean
  unsubscribe: Unsubscribe | undefined
  dead: boolean
}

/**
 * Counters of the bus of one instance (part of `rb.stats()`).
 *
 * @example
 * ```ts
 * const { busPatterns, busDecodeErrors } = rb.stats()
 * ```
 */
export interface BusStats {
  /** Patterns with a backend subscription. */
  patterns: number
  /** Messages that could not be decoded (not runbus payloads), skipped. */
  decodeErrors: number
  /** Messages published. */
  published: number
}

/** @internal Builds `rb.bus`; called by `createRunbus`. */
export function createBus(ctx: Context): BusApi & { stats(): BusStats } {
  const entries = new Map<string, Entry>()
  const counts = { decodeErrors: 0, published: 0 }

  function attach(pattern: string, listener: LocalListener): Attachment {
    let entry = entries.get(pattern)
    if (entry === undefined) {
      const e: Entry = {
        pattern,
        match: compilePattern(pattern),
        listeners: new Set(),
        ready: Promise.resolve(),
        settled: false,
        unsubscribe: undefined,
        dead: false,
      }
      e.ready = ctx.backend.broadcast
        .subscribe(pattern, {
          onMessage: (channel, payload) => dispatch(e, channel, payload),
          onInterrupted: (info) => {
            for (const l of [...e.listeners]) l.interrupted(info)
          },
        })
        .then(
          (unsub) => {
            e.settled = true
            if (e.dead) unsub()
            else e.unsubscribe = unsub
          },
          (err: unknown) => {
            e.settled = true
            if (entries.get(pattern) === e) entries.delete(pattern)
            e.dead = true
            for (const l of [...e.listeners]) l.failed(err)
            throw err
          },
        )
      // Whoever needs `ready` awaits it; an unobserved failure is reported to listeners above.
      e.ready.catch(() => undefined)
      entries.set(pattern, e)
      entry = e
    }
    const e = entry
    e.listeners.add(listener)
    let detached = false
    return {
      ready: e.ready,
      detach() {
        if (detached) return
        detached = true
        e.listeners.delete(listener)
        if (e.listeners.size === 0 && !e.dead) {
          e.dead = true
          if (entries.get(pattern) === e) entries.delete(pattern)
          e.unsubscribe?.()
          e.unsubscribe = undefined
        }
      },
    }
  }

  function dispatch(e: Entry, channel: string, payload: string): void {
    if (e.dead || !e.match(channel)) return
    let msg: BusMessage<unknown>
    try {
      const parsed = JSON.parse(payload) as { ts?: unknown; data?: unknown }
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.ts !== 'number') {
        throw new Error('not a runbus payload')
      }
      msg = { channel, data: parsed.data ?? null, ts: parsed.ts }
    } catch {
      counts.decodeErrors++
      return
    }
    for (const l of [...e.listeners]) l.message(msg)
  }

  async function publish(channel: string, data: unknown): Promise<void> {
    ctx.checkOpen()
    checkChannel(channel)
    const { json } = encodePayload(data, ctx.maxPayloadBytes, `data published on ${channel}`)
    const payload = `{"ts":${Date.now()},"data":${json}}`
    // Waiters registered in this instance before this call must see it.
    const pending: Promise<void>[] = []
    for (const e of entries.values()) {
      if (!e.settled && e.match(channel)) pending.push(e.ready.catch(() => undefined))
    }
    if (pending.length > 0) await Promise.all(pending)
    counts.published++
    await ctx.backend.broadcast.publish(channel, payload)
  }

  function subscribe<T>(pattern: string, options: SubscribeOptions = {}): Subscription<T> {
    ctx.checkOpen()
    checkOptions('subscribe', options, {
      signal: 'signal',
      bufferSize: 'number',
      onInterrupted: 'function',
      onDrop: 'function',
      schema: ['object', 'function'],
      onInvalid: 'function',
    })
    checkPattern(pattern)
    if (options.bufferSize !== undefined && !(options.bufferSize >= 1)) {
      throw new InvalidArgumentError('bufferSize must be at least 1')
    }
    return new Subscription<T>(ctx, pattern, options, (sub) =>
      attach(pattern, {
        message: (m) => sub.deliver(m as BusMessage<T>),
        interrupted: (info) => sub.interrupted(info),
        failed: () => undefined, // the subscription learns it from `ready`
      }),
    )
  }

  function waitForReady<T>(
    pattern: string,
    options: WaitForOptions<T> = {},
    schema?: StandardSchemaV1,
  ): PendingWait<T> {
    ctx.checkOpen()
    checkOptions('waitFor', options, { filter: 'function', timeout: 'number', signal: 'signal' })
    checkPattern(pattern)
    const { filter, timeout, signal } = options
    if (timeout !== undefined && !(timeout >= 0))
      throw new InvalidArgumentError('timeout must be >= 0')
    let settle!: { resolve: (m: BusMessage<T>) => void; reject: (e: unknown) => void }
    const message = new Promise<BusMessage<T>>((resolve, reject) => (settle = { resolve, reject }))
    let done = false
    let timer: ReturnType<typeof setTimeout> | undefined
    let attachment: Attachment | undefined = undefined
    const finish = (err: unknown, msg?: BusMessage<T>): void => {
      if (done) return
      done = true
      attachment?.detach()
      untrack()
      if (timer !== undefined) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) settle.resolve(msg!)
      else settle.reject(err)
    }
    const onAbort = (): void => finish(signal?.reason)
    const untrack = ctx.track('waiter', { close: (reason) => finish(reason) })
    attachment = attach(pattern, {
      message(m) {
        if (done) return
        if (schema === undefined) {
          accept(m as BusMessage<T>)
          return
        }
        // A typed wait only ever resolves with data that passed the channel's schema.
        let r: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
        try {
          r = schema['~standard'].validate(m.data)
        } catch {
          return
        }
        const onResult = (res: StandardSchemaV1.Result<unknown>): void => {
          if (res.issues === undefined)
            accept({ channel: m.channel, data: res.value as T, ts: m.ts })
        }
        if (r instanceof Promise) void r.then(onResult, () => undefined)
        else onResult(r)
      },
      interrupted: () => undefined,
      failed: (err) => finish(err),
    })
    function accept(typed: BusMessage<T>): void {
      if (done) return
      if (filter !== undefined) {
        let ok: boolean
        try {
          ok = filter(typed)
        } catch (err) {
          finish(err)
          return
        }
        if (!ok) return
      }
      finish(undefined, typed)
    }
    if (signal !== undefined) {
      if (signal.aborted) finish(signal.reason)
      else signal.addEventListener('abort', onAbort, { once: true })
    }
    if (timeout !== undefined && !done) {
      timer = setTimeout(
        () => finish(new TimeoutError(timeout, `no message on ${pattern} within ${timeout} ms`)),
        timeout,
      )
    }
    const ready = attachment.ready
    return {
      message,
      ready,
      cancel: (reason) => finish(reason ?? new InvalidArgumentError('wait cancelled')),
    }
  }

  function channel(
    name: string,
    options?: { schema: StandardSchemaV1 },
  ): Channel<unknown, unknown> {
    checkOptions('channel', options, { schema: ['object', 'function'] })
    checkChannel(name)
    const schema = options?.schema
    return {
      name,
      // The validated input travels and every reader applies the schema: a reader never
      // trusts a publisher (another process may publish on the raw channel), transforms
      // run where the output type is wanted, and non-JSON outputs (Dates…) never hit the wire.
      async publish(data) {
        if (schema !== undefined) await validate(schema, data, `data for ${name}`)
        await publish(name, data)
      },
      subscribe: (opts) => subscribe(name, schema === undefined ? opts : { ...opts, schema }),
      waitFor: (opts) => waitForReady(name, opts, schema).message,
    }
  }

  return {
    publish,
    subscribe,
    waitFor: (pattern, options) => waitForReady(pattern, options).message,
    waitForReady,
    channel: channel,
    stats: () => ({ patterns: entries.size, ...counts }),
  }
}
