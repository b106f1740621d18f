/**
 * The agent's handle on one run: emit events, end the run, read its inbox, ask a person.
 *
 * Emit pipeline invariants:
 * - `emit` is synchronous: the payload is encoded and its size checked on the spot (an
 *   oversized payload throws now, never later), then it joins the pending list.
 * - Each event's `ts` is stamped when its batch is first sent (one clock read per batch),
 *   and kept if the batch is sent again.
 * - Pending events go to `backend.runs.append` as one batch per microtask; the next batch
 *   is sent only after the previous one was stored, so the log keeps emit order.
 *   `append()` rides the same pipeline, so it is ordered after earlier emits.
 * - A failed batch is never dropped silently. Its `append()` callers are rejected (they
 *   were told, so their events are not retried); its plain emits are kept, in order, at
 *   the head of the pending list, and the handle stops sending: the failure is "sticky".
 *   `flush()` (and `append()`, `end()`) retry the kept events: when that succeeds the
 *   handle is healthy again; when it fails they reject with the new failure. While sticky,
 *   `emit` keeps buffering up to `MAX_PENDING` events, then throws the failure. Failures
 *   are counted in `stats.failures`. A retry after `backend_unavailable` may store a batch
 *   twice (the first attempt may have landed): at-least-once, not exactly-once.
 * - When the run is over for this handle — `end()` was called, or the backend said the run
 *   ended (another handle or process ended it) or is gone (expired, or Redis restarted
 *   empty) — no retry can help, and the handle says so in one way: `run.signal` aborts with
 *   the reason (`RunEndedError` / `RunNotFoundError`), later emits are refused without
 *   throwing (not stored, counted in `stats.refused`: an agent loop is not killed by a
 *   throw from `run.text()`), and `append`, `flush`, `end` reject with the reason.
 */
import type { Context } from '../context.js'
import type { EventDraft } from '../contract/contract.js'
import {
  type InboxMessage,
  type RunEnd,
  type RunEndStatus,
  type RunEvent,
} from '../events/envelope.js'
import {
  InvalidArgumentError,
  PayloadTooLargeError,
  RunEndedError,
  RunNotFoundError,
  RunbusError,
  TimeoutError,
} from '../events/errors.js'
import { encodePayload, notEncodable } from '../events/codec.js'
import { withDeadline } from '../events/deadline.js'
import { SharedDraft } from '../contract/shared-draft.js'
import { sharePlainJson } from '../events/shared-data.js'
import { newAskId } from '../events/ids.js'
import type { AnswerOf, AskFn, AskKind, AskOptions } from '../asks/types.js'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { InboxReader } from '../streams/inbox.js'
import { checkEventType, eventDataName } from '../streams/by-id.js'

/**
 * Emitted events a handle buffers while its backend keeps failing, before `emit` throws the
 * failure (so a dead backend cannot make an agent buffer without bound).
 *
 * @example
 * ```ts
 * if (run.stats.pending > MAX_PENDING / 2) await run.flush()
 * ```
 */
export const MAX_PENDING = 100_000
/** How long `rb.close()` waits for a handle's pending events to be stored. */
const DRAIN_MS = 5_000
/** Largest batch sent to the backend at once. */
const MAX_BATCH = 1_000
/** The event type a handle's `emit` counts as checked before its first emit (it passes). */
const CHECKED_FIRST = checkEventType('text')

/** A draft's `ts` until its batch is first sent (`send()` stamps it). */
const UNSTAMPED = -1

/**
 * How a run ends.
 *
 * @example
 * ```ts
 * await run.end({ status: 'failed', error: err })
 * ```
 */
export interface EndOptions {
  /** Default `'completed'`. */
  status?: RunEndStatus
  /** Why it failed: a message or an Error (its message is stored). */
  error?: string | Error
}

/**
 * Counters of one run handle.
 *
 * @example
 * ```ts
 * const { pending, failures } = run.stats
 * ```
 */
export interface RunHandleStats {
  /** Events accepted by emit/append on this handle. */
  emitted: number
  /** Events the backend stored. */
  stored: number
  /** Events waiting to be stored. */
  pending: number
  /** Batches sent. */
  batches: number
  /** Batches that failed. */
  failures: number
  /**
   * Inbox messages dropped because the agent did not read its inbox (oldest first), or
   * trimmed by the backend (`retention.maxInboxMessages`) before this handle read them.
   */
  inboxDropped: number
  /** Emits refused (not stored) because the run was over for this handle (see `run.over`). */
  refused: number
}

/**
 * An event for `appendMany`.
 *
 * @example
 * ```ts
 * const e: EventInput = { type: 'progress', data: { pct: 50 } }
 * ```
 */
export interface EventInput {
  type: string
  data?: unknown
}

/** Someone awaiting one pending event (an `append()` call). */
interface Waiter {
  resolve(e: RunEvent): void
  reject(err: unknown): void
}

/** Someone awaiting a flush (`flush()`). */
interface FlushWaiter {
  resolve(): void
  reject(err: unknown): void
}

/**
 * A run, from the agent's side.
 *
 * Use `emit` (or the helpers) for the stream, `end` once at the end, `signal` for
 * cancellation, `inbox` for steering, `ask` to wait for a person. Get one from
 * `rb.runs.create()` or, for an existing run, `rb.runs.open()`.
 * Gotchas: `emit` returns nothing: call `await run.flush()` where you must know events are
 * stored (and to learn about failures); after `end()` every emit throws `RunEndedError`.
 *
 * @example
 * ```ts
 * const run = await rb.runs.create()
 * run.status('thinking')
 * run.text('Hello')
 * const ok = await run.ask({ kind: 'confirm', prompt: 'Deploy?' })
 * await run.end({ status: ok ? 'completed' : 'cancelled' })
 * ```
 */
export class Run {
  /** The run id. */
  readonly id: string
  private readonly ctx: Context
  private readonly askFn: AskFn
  /** Drafts not yet stored, in emit order. */
  private pending: EventDraft[] = []
  /**
   * Parallel to `pending` while any `append()` waits (`undefined` slots for plain emits);
   * `undefined` otherwise, so the emit hot path allocates nothing for it.
   */
  private waiters: Array<Waiter | undefined> | undefined = undefined
  private inflight = false
  private scheduled = false
  private failure: Error | undefined = undefined
  /** Set when the backend said the run ended or is gone: every later emit throws it. */
  private gone: RunEndedError | RunNotFoundError | undefined = undefined
  private flushWaiters: FlushWaiter[] = []
  private ending = false
  private inboxReader: InboxReader | undefined
  private counts = { emitted: 0, stored: 0, batches: 0, failures: 0, refused: 0 }
  /** `run.signal`: the inbox's interrupt, or the run being over for this handle. */
  private readonly sig = new AbortController()
  private linked = false
  /** Set while the handle has events to store: only then does `rb.close()` need it. */
  private untrack: (() => void) | undefined = undefined
  /**
   * The event type `emit` checked last: an agent emits the same few types over and over, and
   * a type equal to it needs no second check (the check hashes it into the reserved set).
   * It starts as a type that passed the check, so that nothing unchecked ever equals it.
   */
  private checkedType: string = CHECKED_FIRST

  /** @internal Use `rb.runs.create()` or `rb.runs.open()`. */
  constructor(ctx: Context, id: string, askFn: AskFn) {
    this.ctx = ctx
    this.id = id
    this.askFn = askFn
  }

  /**
   * Aborted when the agent should stop working on this run, with the reason:
   * `InterruptedError` when an `interrupt` message reaches the run's inbox (from any
   * process; its `data` is the message's data); `RunEndedError` once the run ended (by this
   * handle's `end()`, or elsewhere); `RunNotFoundError` once the backend says the run is
   * gone (expired, or a Redis restarted empty). Pass it to your LLM and tools.
   *
   * @example
   * ```ts
   * await fetch(url, { signal: run.signal })
   * ```
   */
  get signal(): AbortSignal {
    const sig = this.sig.signal
    if (!this.linked && !sig.aborted) {
      this.linked = true
      const inbox = this.inbox_().controller.signal
      if (inbox.aborted) this.sig.abort(inbox.reason)
      else inbox.addEventListener('abort', () => this.abortSignal(inbox.reason), { once: true })
    }
    return sig
  }

  /**
   * Why the run is over for this handle (`RunEndedError` after `end()` or an end
   * elsewhere, `RunNotFoundError` when the run is gone), or `undefined` while it is open.
   * Once set, emits are refused (counted in `stats.refused`) and `append`/`flush`/`end`
   * reject with it.
   */
  get over(): RunEndedError | RunNotFoundError | undefined {
    return this.gone
  }

  private abortSignal(reason: unknown): void {
    if (!this.sig.signal.aborted) this.sig.abort(reason)
  }

  /** The run is over for this handle: refuse what comes next, and tell `run.signal`. */
  private markGone(err: RunEndedError | RunNotFoundError): void {
    this.gone ??= err
    this.abortSignal(this.gone)
  }

  /**
   * The run's inbox: messages sent with `rb.runs.send()`, in order, each once. Finishes when
   * the run ends. One reader at a time.
   *
   * @example
   * ```ts
   * for await (const msg of run.inbox) if (msg.type === 'steer') plan.adjust(msg.data)
   * ```
   */
  get inbox(): AsyncIterable<InboxMessage> {
    const reader = this.inbox_()
    return { [Symbol.asyncIterator]: () => reader.iterator() }
  }

  /** Whether `end()` was called on this handle. */
  get ended(): boolean {
    return this.ending
  }

  /** Counters of this handle. */
  get stats(): RunHandleStats {
    return {
      ...this.counts,
      pending: this.pending.length,
      inboxDropped:
        (this.inboxReader?.queue.stats.dropped.oldest ?? 0) + (this.inboxReader?.skipped ?? 0),
    }
  }

  /** @internal Starts the inbox watch now and waits until it is in place. */
  watchInbox(): Promise<void> {
    return this.inbox_().ready
  }

  private inbox_(): InboxReader {
    if (this.inboxReader === undefined) {
      this.inboxReader = new InboxReader(this.ctx, this.id)
      // A failing watch ends the inbox with the error; it must not be an unhandled rejection.
      this.inboxReader.ready.catch((err: unknown) => this.inboxReader?.stop(err))
    }
    return this.inboxReader
  }

  /**
   * Adds an event to the run, synchronously; it is stored in the background, in order.
   *
   * Use it from the agent's hot loop (tokens). Gotchas: reserved types (`end`, `gap`,
   * `ask`, `answer`, `ask_expired`) are refused; call `flush()` to learn whether storing
   * worked. Plain JSON `data` is frozen (deeply) and shared with readers in this process
   * instead of being decoded again: do not write to it after emitting (a write throws).
   * The event's `ts` is read once per batch, when the batch is first sent: emits with no
   * `await` between them share the time their synchronous stretch ended.
   *
   * Once the run is over for this handle (`end()` called, ended elsewhere, gone) an emit
   * is refused: nothing is stored, nothing is thrown, `stats.refused` counts it, and
   * `run.signal` has already aborted with the reason — check it in the loop.
   *
   * @throws PayloadTooLargeError at once when `data` encodes over the size limit.
   * @throws InvalidArgumentError at once for a reserved or malformed `type`, and for `data`
   *   JSON cannot encode (a cycle, a BigInt, too deep, or a getter or `toJSON` that throws:
   *   the thrown value is the error's `cause`).
   * @example
   * ```ts
   * run.emit('progress', { done: 3, of: 10 })
   * ```
   */
  emit(type: string, data?: unknown): void {
    if (type !== this.checkedType) this.checkedType = checkEventType(type)
    this.push(type, data, undefined)
  }

  /**
   * Stores one event and resolves with its envelope (ordered after earlier emits).
   *
   * @example
   * ```ts
   * const { id } = await run.append('checkpoint', { step: 4 })
   * ```
   */
  async append(type: string, data?: unknown): Promise<RunEvent> {
    checkEventType(type)
    return this.appendRaw(type, data)
  }

  /**
   * Stores several events as one batch (consecutive seqs) and resolves with their envelopes.
   *
   * @example
   * ```ts
   * const events = await run.appendMany([{ type: 'a' }, { type: 'b', data: 2 }])
   * ```
   */
  async appendMany(events: readonly EventInput[]): Promise<RunEvent[]> {
    for (const e of events) checkEventType(e?.type)
    return Promise.all(events.map((e) => this.appendRaw(e.type, e.data)))
  }

  /** @internal Appends a reserved event (asks): not for users, it could forge answers. */
  async appendReserved(type: string, data: unknown): Promise<RunEvent> {
    return this.appendRaw(type, data)
  }

  private appendRaw(type: string, data: unknown): Promise<RunEvent> {
    return new Promise<RunEvent>((resolve, reject) => {
      this.push(type, data, { resolve, reject })
      if (this.failure !== undefined) this.retry()
    })
  }

  /** Emits `{ text }` as a `text` event (a model's output, a token). */
  text(text: string): void {
    this.emit('text', { text })
  }

  /** Emits `{ text }` as a `thinking` event (a model's reasoning). */
  thinking(text: string): void {
    this.emit('thinking', { text })
  }

  /**
   * Emits a `tool_call` event `{ id, name, args }` and returns its id (generated when
   * absent) for the matching `toolResult`.
   *
   * @example
   * ```ts
   * const id = run.toolCall('search', { q: 'runbus' })
   * run.toolResult(id, hits)
   * ```
   */
  toolCall(name: string, args?: unknown, id?: string): string {
    const callId = id ?? newAskId().replace('ask_', 'call_')
    this.emit('tool_call', { id: callId, name, args: args ?? null })
    return callId
  }

  /** Emits a `tool_result` event `{ id, result }`. */
  toolResult(id: string, result: unknown): void {
    this.emit('tool_result', { id, result: result ?? null })
  }

  /** Emits a `status` event `{ status }` (a phase, a step name). */
  status(status: string): void {
    this.emit('status', { status })
  }

  /**
   * Emits an `error` event `{ message, name?, code? }` (a recoverable error: the run goes
   * on; use `end({ status: 'failed' })` when it does not).
   */
  error(err: unknown): void {
    this.emit('error', errorData(err))
  }

  /**
   * Resolves when every event emitted so far is stored; rejects with the failure otherwise.
   * After a failure it retries the kept events (see the file comment).
   *
   * Gotcha: `timeout` / `signal` only bound the wait (`TimeoutError` / `signal.reason`);
   * the events stay pending and are still stored in order.
   *
   * @example
   * ```ts
   * run.text('done')
   * await run.flush({ timeout: 5_000 })
   * ```
   */
  flush(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.pending.length === 0 && !this.inflight && this.failure === undefined) {
      return Promise.resolve()
    }
    const { timeout, signal } = options
    if (timeout !== undefined && !(timeout >= 0)) {
      return Promise.reject(new InvalidArgumentError('timeout must be >= 0'))
    }
    if (signal?.aborted === true) return Promise.reject(toError(signal.reason))
    // Kept events of a run that is gone can never be stored: say so without a round trip.
    if (this.gone !== undefined) return Promise.reject(this.gone)
    let waiter: FlushWaiter | undefined
    const stored = new Promise<void>((resolve, reject) => {
      waiter = { resolve: () => resolve(), reject }
      this.flushWaiters.push(waiter)
      if (this.failure !== undefined) this.retry()
    })
    // The one bounded call: the timer and the abort listener always go with the wait.
    return withDeadline(stored, {
      ...(timeout !== undefined ? { ms: timeout } : {}),
      ...(signal !== undefined ? { signal } : {}),
      onTimeout: () => new TimeoutError(timeout!, `flush timed out after ${timeout} ms`),
    }).then(
      () => this.dropFlushWaiter(waiter),
      (err: unknown) => {
        this.dropFlushWaiter(waiter)
        throw toError(err)
      },
    )
  }

  private dropFlushWaiter(w: FlushWaiter | undefined): void {
    const i = w === undefined ? -1 : this.flushWaiters.indexOf(w)
    if (i >= 0) this.flushWaiters.splice(i, 1)
  }

  /**
   * Ends the run (once): flushes what was emitted, then appends the `end` event.
   *
   * @throws RunEndedError (rejects) when the run had already ended.
   * @example
   * ```ts
   * try { … await run.end() } catch (err) { await run.end({ status: 'failed', error: err }) }
   * ```
   */
  async end(options: EndOptions = {}): Promise<RunEvent<RunEnd>> {
    if (this.ending) throw new RunEndedError(this.id)
    if (this.gone !== undefined) throw this.gone
    const status = options.status ?? 'completed'
    if (status !== 'completed' && status !== 'failed' && status !== 'cancelled') {
      throw new InvalidArgumentError(
        `end status must be completed, failed or cancelled, got ${JSON.stringify(status)}`,
      )
    }
    this.ctx.checkOpen()
    this.ending = true
    try {
      await this.flush()
      const end: RunEnd = { status }
      if (options.error !== undefined) {
        end.error = options.error instanceof Error ? options.error.message : String(options.error)
      }
      const event = await this.ctx.backend.runs.endRun(this.id, end, Date.now(), this.ctx.ttlMs)
      this.markGone(new RunEndedError(this.id, `run ${JSON.stringify(this.id)} ended (${status})`))
      return event
    } catch (err) {
      // A flush failure leaves the run open: let the caller retry end().
      if (!(err instanceof RunEndedError)) this.ending = false
      if (err instanceof RunEndedError || err instanceof RunNotFoundError) this.markGone(err)
      throw err
    } finally {
      if (this.ending) this.release()
    }
  }

  /**
   * Asks a person and waits for the answer: appends an `ask` event, resolves with the first
   * valid answer (also appended, as an `answer` event).
   *
   * @throws AskTimeoutError after `timeout` (the run gets an `ask_expired` event).
   * @throws the signal's reason when cancelled (default signal: `run.signal`).
   * @example
   * ```ts
   * const name = await run.ask({ kind: 'text', prompt: 'Project name?', timeout: 300_000 })
   * ```
   */
  ask<K extends AskKind, S extends StandardSchemaV1 | undefined = undefined>(
    options: AskOptions<K, S>,
  ): Promise<AnswerOf<K, S>> {
    return this.askFn(this, newAskId(), options) as Promise<AnswerOf<K, S>>
  }

  private push(type: string, data: unknown, waiter: Waiter | undefined): void {
    const over = this.gone ?? (this.ending ? new RunEndedError(this.id) : undefined)
    if (over !== undefined) {
      if (waiter !== undefined) waiter.reject(over)
      else this.counts.refused++
      return
    }
    this.ctx.checkOpen()
    if (this.failure !== undefined && this.pending.length >= MAX_PENDING) throw this.failure
    // Plain JSON data is frozen and shared with in-process readers (no decode on their side).
    // One walk tells that, that it is shallow enough (no depth walk in the encoder) and its
    // exact encoded size, so the limit is checked with no JSON text made: the draft makes
    // it only if a backend asks (Redis, Postgres; never the memory backend). The same walk
    // freezes it, only when it is within the limit; the error message is built only on a
    // refusal.
    // A getter or `toJSON` that throws while the walk reads it is refused as JSON.stringify's
    // throw is (`encodePayload`): with its cause, as an `InvalidArgumentError`.
    const limit = this.ctx.maxPayloadBytes
    let bytes: number
    try {
      bytes = sharePlainJson(data, limit)
    } catch (err) {
      throw notEncodable(eventDataName(type), err)
    }
    let draft: EventDraft
    if (bytes >= 0) {
      if (bytes > limit) {
        throw new PayloadTooLargeError(bytes, limit, eventDataName(type))
      }
      draft = new SharedDraft(type, data, bytes, UNSTAMPED)
    } else {
      const { json } = encodePayload(data, limit, () => eventDataName(type))
      draft = { type, data, json, ts: UNSTAMPED, shared: false }
    }
    if (waiter !== undefined && this.waiters === undefined) {
      this.waiters = new Array<Waiter | undefined>(this.pending.length)
    }
    this.pending.push(draft)
    this.waiters?.push(waiter)
    this.counts.emitted++
    this.untrack ??= this.ctx.track('run', {
      close: () => this.release(),
      drain: () => this.drain(),
    })
    this.schedule()
  }

  private schedule(): void {
    if (this.scheduled || this.inflight || this.failure !== undefined) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      this.send()
    })
  }

  private retry(): void {
    if (this.inflight) return
    this.failure = undefined
    this.send()
  }

  private send(): void {
    if (this.inflight || this.failure !== undefined) return
    if (this.pending.length === 0) {
      this.untrack?.()
      this.untrack = undefined
      this.settleFlush(undefined)
      return
    }
    const whole = this.pending.length <= MAX_BATCH
    const drafts = whole ? this.pending : this.pending.slice(0, MAX_BATCH)
    // One clock read per batch, not per emit (`Date.now()` costs as much as the rest of an
    // emit's bookkeeping): every draft of the batch gets the time it was first sent. A kept
    // draft sent again after a failure keeps its first time.
    const now = Date.now()
    for (let i = 0; i < drafts.length; i++) if (drafts[i].ts === UNSTAMPED) drafts[i].ts = now
    this.pending = whole ? [] : this.pending.slice(MAX_BATCH)
    let told: Array<Waiter | undefined> | undefined
    if (this.waiters !== undefined) {
      told = whole ? this.waiters : this.waiters.slice(0, MAX_BATCH)
      this.waiters = whole ? undefined : this.waiters.slice(MAX_BATCH)
    }
    this.inflight = true
    this.counts.batches++
    this.ctx.backend.runs.append(this.id, drafts).then(
      (events) => {
        this.inflight = false
        this.counts.stored += events.length
        if (told !== undefined) for (let i = 0; i < told.length; i++) told[i]?.resolve(events[i])
        this.send()
      },
      (err: unknown) => {
        this.inflight = false
        this.counts.failures++
        this.ctx.counters.emitFailures++
        // Told callers are rejected; untold emits stay, in order, for a retry.
        let keep = drafts
        if (told !== undefined) {
          keep = []
          for (let i = 0; i < drafts.length; i++) {
            const w = told[i]
            if (w !== undefined) w.reject(err)
            else keep.push(drafts[i])
          }
        }
        this.pending = keep.concat(this.pending)
        if (this.waiters !== undefined) {
          this.waiters = new Array<Waiter | undefined>(keep.length).concat(this.waiters)
        }
        this.failure = keep.length > 0 ? toError(err) : undefined
        // The run ended elsewhere or expired: no retry can ever store these; say so at once.
        if (err instanceof RunEndedError || err instanceof RunNotFoundError) this.markGone(err)
        this.settleFlush(err)
        if (this.failure === undefined) this.send()
        // Appends queued behind the failure are waiting for an answer: retry for them now.
        else if (this.waiters?.some((w) => w !== undefined) === true) this.retry()
      },
    )
  }

  private settleFlush(err: unknown): void {
    if (this.flushWaiters.length === 0) return
    const waiters = this.flushWaiters
    this.flushWaiters = []
    for (const w of waiters) {
      if (err === undefined) w.resolve()
      else w.reject(err)
    }
  }

  private release(): void {
    this.untrack?.()
    this.untrack = undefined
    this.inboxReader?.stop()
  }

  /**
   * @internal On `rb.close()`, tries to store what is pending, for at most `DRAIN_MS`: a
   * backend that hangs must not hang `close()`. What could not be stored is counted in
   * `stats.pending` (and the failure in `stats.failures`).
   */
  drain(): Promise<void> {
    return this.flush({ timeout: DRAIN_MS }).catch(() => undefined)
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/**
 * Plain data describing an error, for `error` events (what `run.error(err)` stores).
 *
 * @example
 * ```ts
 * errorData(new RunEndedError('r')) // { message, name: 'RunEndedError', code: 'run_ended' }
 * ```
 */
export function errorData(err: unknown): { message: string; name?: string; code?: string } {
  if (err instanceof RunbusError) return { message: err.message, name: err.name, code: err.code }
  if (err instanceof Error) return { message: err.message, name: err.name }
  return { message: typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err)) }
}
