/**
 * Following one run over SSE, without ever losing the place.
 *
 * Uses `fetch` streaming (not the browser `EventSource`) so the token travels in a header
 * and `Last-Event-ID` is ours to set. Invariants this file keeps:
 *
 * - **Resume.** `lastId` is the id of the last event handed to the buffer; every reconnect
 *   sends it as `Last-Event-ID`. Before the first event, the caller's `after` is sent
 *   instead (`live` is turned into an `after`: the run's last id, read once).
 * - **No duplicate.** Within a run `seq` counts 1, 2, 3…; an event whose seq is not above
 *   the last one delivered is dropped and counted (`duplicatesDropped`).
 * - **No silent hole.** A hub `gap` frame is surfaced as an event of type `gap` and on the
 *   `gap` listener; a seq that jumps without one is surfaced the same way (`source: 'client'`).
 * - **Bounded memory.** Past `highWaterMark` buffered events the reader stops pulling from
 *   the socket; a hub that then cuts the connection is resumed from `lastId` like any drop.
 * - **Explicit states.** `connecting` → `connected` ⇄ `reconnecting` → `closed`, each change
 *   on the `state` listener (centrifuge-js style), with the back-off delay chosen.
 * - **Release.** Closing, disposing, aborting the signal or the run's end cancels the
 *   response body, clears every timer and settles `closed`.
 */
import type { GapData, RunEnd, RunEvent } from '../events/envelope.js'
import { epochTagOfId, eventIdOf, seqOfId } from '../events/envelope.js'
import { HubError, InvalidArgumentError } from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { SseParser, decodeRunFrame, type SseMessage } from '../protocol/framing.js'
import { errorFromWire, statusOfCode } from '../protocol/errors.js'
import {
  DEFAULT_RECONNECT_BACKOFF,
  backoffDelay,
  resolveBackoff,
  type Backoff,
  type BackoffOptions,
} from '../events/jitter.js'
import { abortReason } from '../events/deadline.js'
import { errorOf, headersOf, requestJson, send, seg, urlOf, type Transport } from './http.js'

/** Where a follow's connection is. `closed` is final. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed'

/** Options of {@link Follow}. */
export interface FollowOptions {
  /**
   * Start after this event id (exclusive). Only used until the first event arrives; from
   * then on the follow resumes from its own last id.
   */
  after?: string
  /**
   * Start from now instead of the start of what the hub retains. Ignored when `after` is
   * set. "Now" is the run's last id, read once before the first connection, so a cut before
   * the first event still resumes from there and loses nothing.
   */
  live?: boolean
  /** Aborting it ends the follow: the iterator rejects with the signal's reason. */
  signal?: AbortSignal
  /**
   * Reconnect pacing (full jitter, capped; `DEFAULT_RECONNECT_BACKOFF`: 250 ms, 10 s).
   * Without `initialMs`, the hub's SSE `retry:` hint is the first wait's cap.
   */
  backoff?: BackoffOptions
  /**
   * Reconnect when nothing (not even a `: ping`) arrived for this long, in ms: a dead TCP
   * connection otherwise hangs forever. Default 45 000 (three hub pings); 0 disables.
   */
  idleTimeoutMs?: number
  /** Stop reading from the socket while this many events wait for the consumer. Default 1024. */
  highWaterMark?: number
  /**
   * Start the reader before the writer: for up to this many ms from `follow()`, a run the
   * hub does not know yet (404) is asked for again (every 25–250 ms) instead of failing.
   * Past the bound the 404 rejects the iterator as without the option; `signal` cancels.
   * Default 0.
   */
  waitForRun?: number
}

/** Payload of the `state` listener. */
export interface StateChange {
  readonly state: ConnectionState
  readonly previous: ConnectionState
  /** Reconnects so far (this one included when `state` is `reconnecting`). */
  readonly reconnects: number
  /** When `reconnecting`: the back-off chosen before the next attempt, in ms. */
  readonly delayMs?: number
  /** When `reconnecting`: why the last connection ended, if it failed (absent for a clean close). */
  readonly error?: unknown
}

/** Payload of the `gap` listener: ids (inclusive) that will never be delivered. */
export interface GapNotice extends GapData {
  /** `hub`: the hub said so; `client`: the seq jumped without a word from the hub. */
  readonly source: 'hub' | 'client'
}

/** The typed event map of a {@link Follow}. */
export interface FollowEventMap {
  /** The connection state changed. */
  state: StateChange
  /** Events were lost for good (also yielded as an event of type `gap`). */
  gap: GapNotice
  /** An event already delivered came again (after a resume) and was dropped. */
  duplicate: RunEvent
  /** A connection failed and will be retried (a fatal failure rejects the iterator instead). */
  error: unknown
}

/**
 * A live, self-healing view of one run: an async iterable of its events that reconnects
 * by itself, resumes from the last id, drops duplicates and ends after the run's `end`.
 *
 * Iterate it once. The final `end` event is yielded, then the iteration finishes; `gap`
 * events are yielded where history was lost. Fatal failures (401, 403, 404, a malformed
 * frame) reject the iterator with a {@link HubError} or {@link DecodeError}; everything
 * else is retried with back-off forever (bound it with `signal`).
 *
 * @example
 * ```ts
 * await using follow = client.follow('run-1')
 * follow.on('state', (s) => console.log(s.state))
 * for await (const ev of follow) console.log(ev.seq, ev.type, ev.data)
 * ```
 */
export interface Follow extends AsyncIterable<RunEvent>, AsyncDisposable {
  /** The run followed. */
  readonly run: string
  /** Where the connection is now. */
  readonly state: ConnectionState
  /** The id of the last event delivered (the resume position), if any. */
  readonly lastId: string | undefined
  /** How many times the follow reconnected. */
  readonly reconnects: number
  /** How many already-delivered events came again and were dropped. */
  readonly duplicatesDropped: number
  /** How many events were reported lost through `gap`s (when the ids are countable). */
  readonly gaps: number
  /** The run's end, once it was received. */
  readonly end: RunEnd | undefined
  /** Settles once the follow is closed and every resource is released. Never rejects. */
  readonly closed: Promise<void>
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof FollowEventMap>(
    event: K,
    listener: (value: FollowEventMap[K]) => void,
  ): () => void
  /** Removes a listener added with {@link Follow.on}. */
  off<K extends keyof FollowEventMap>(event: K, listener: (value: FollowEventMap[K]) => void): void
  /**
   * Drops the current connection and reconnects (with back-off) from the last id, as a
   * network cut would. For debugging and demos.
   */
  reconnect(): void
  /** Stops following and releases everything; buffered events are discarded. */
  close(): Promise<void>
}

/** HTTP statuses worth retrying; the rest of the 4xx are the caller's problem. */
function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

const asyncDispose: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for('Symbol.asyncDispose') as typeof Symbol.asyncDispose)

type Listener = (value: never) => void

/** @internal Creates a follow; use `client.follow()`. */
export function createFollow(
  transport: Transport,
  run: string,
  options: FollowOptions = {},
): Follow {
  return new RunFollow(transport, run, options)
}

class RunFollow implements Follow {
  readonly run: string
  readonly closed: Promise<void>
  lastId: string | undefined
  reconnects = 0
  duplicatesDropped = 0
  gaps = 0
  end: RunEnd | undefined

  readonly #transport: Transport
  readonly #options: FollowOptions
  readonly #backoff: Backoff
  readonly #highWaterMark: number
  readonly #idleTimeoutMs: number
  #state: ConnectionState = 'connecting'
  readonly #listeners = new Map<keyof FollowEventMap, Set<Listener>>()
  /** Aborted when the follow closes for any reason: the loop and every wait watch it. */
  readonly #lifetime = new AbortController()
  #connection: AbortController | undefined
  #lastSeq = 0
  /** Where to start until the first event arrives: the caller's `after`, or "now" once resolved. */
  #after: string | undefined
  /** Events handed to the consumer so far (a connection that added some resets the back-off). */
  #delivered = 0
  #serverRetryMs: number | undefined
  readonly #buffer: RunEvent[] = []
  #pull: { resolve(r: IteratorResult<RunEvent>): void; reject(e: unknown): void } | undefined
  #space: (() => void) | undefined
  #finished = false
  #failure: { error: unknown } | undefined
  #iterated = false
  #resolveClosed!: () => void
  /** `waitForRun`: until when a 404 before the first connection means "not yet". */
  readonly #waitUntil: number
  #found = false
  #waitDelay = 25

  constructor(transport: Transport, run: string, options: FollowOptions) {
    if (typeof run !== 'string' || run === '')
      throw new InvalidArgumentError('run must be a non-empty string')
    checkOptions('follow', options, {
      after: 'string',
      live: 'boolean',
      signal: 'signal',
      backoff: 'object',
      idleTimeoutMs: 'number',
      highWaterMark: 'number',
      waitForRun: 'number',
    })
    this.#backoff = resolveBackoff('follow.backoff', options.backoff, DEFAULT_RECONNECT_BACKOFF)
    const wait = options.waitForRun ?? 0
    if (!(wait >= 0) || !Number.isFinite(wait))
      throw new InvalidArgumentError('waitForRun must be a finite number of ms, 0 or more')
    this.#waitUntil = Date.now() + wait
    this.run = run
    this.#transport = transport
    this.#options = options
    this.#highWaterMark = Math.max(1, options.highWaterMark ?? 1024)
    this.#idleTimeoutMs = Math.max(0, options.idleTimeoutMs ?? 45_000)
    if (options.after !== undefined) this.#startAfter(options.after)
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    const signal = options.signal
    if (signal?.aborted) {
      this.#stop({ error: abortReason(signal) })
      this.#resolveClosed()
      this.#state = 'closed'
      return
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true })
    // Start on the next microtask so listeners attached right after follow() see every state.
    queueMicrotask(() => {
      this.#loop().then(
        () => undefined,
        (err: unknown) => this.#stop({ error: err }),
      )
    })
  }

  get state(): ConnectionState {
    return this.#state
  }

  on<K extends keyof FollowEventMap>(
    event: K,
    listener: (value: FollowEventMap[K]) => void,
  ): () => void {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => this.off(event, listener)
  }

  off<K extends keyof FollowEventMap>(
    event: K,
    listener: (value: FollowEventMap[K]) => void,
  ): void {
    this.#listeners.get(event)?.delete(listener)
  }

  reconnect(): void {
    this.#connection?.abort(new HubError(0, 'reconnect_requested', 'reconnect requested'))
  }

  async close(): Promise<void> {
    this.#stop(undefined)
    await this.closed
  }

  [asyncDispose](): Promise<void> {
    return this.close()
  }

  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    if (this.#iterated) throw new InvalidArgumentError('a follow can be iterated only once')
    this.#iterated = true
    return {
      next: () => this.#next(),
      return: async () => {
        await this.close()
        return { done: true, value: undefined }
      },
    }
  }

  // ---- consumer side ----

  #next(): Promise<IteratorResult<RunEvent>> {
    if (this.#buffer.length > 0) {
      const value = this.#buffer.shift()!
      if (this.#space && this.#buffer.length <= this.#highWaterMark / 2) {
        const space = this.#space
        this.#space = undefined
        space()
      }
      return Promise.resolve({ value, done: false })
    }
    if (this.#failure) {
      const { error } = this.#failure
      this.#failure = undefined // reject once, then report done like any finished iterator
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason is passed on as is
      return Promise.reject(error)
    }
    if (this.#finished) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => (this.#pull = { resolve, reject }))
  }

  #push(event: RunEvent): void {
    const pull = this.#pull
    if (pull) {
      this.#pull = undefined
      pull.resolve({ value: event, done: false })
    } else {
      this.#buffer.push(event)
    }
  }

  /**
   * Ends the follow. `failure` undefined: a clean end (buffered events still drain after the
   * run's end; a close discards them). With `failure`: drain, then reject with it.
   */
  #stop(failure: { error: unknown } | undefined, drain = false): void {
    if (this.#finished) return
    this.#finished = true
    this.#options.signal?.removeEventListener('abort', this.#onAbort)
    if (!drain) this.#buffer.length = 0
    this.#failure = failure
    this.#lifetime.abort()
    const space = this.#space
    this.#space = undefined
    space?.()
    const pull = this.#pull
    if (pull) {
      this.#pull = undefined
      if (failure) {
        this.#failure = undefined
        pull.reject(failure.error)
      } else pull.resolve({ value: undefined, done: true })
    }
  }

  readonly #onAbort = (): void => {
    this.#stop({ error: abortReason(this.#options.signal!) })
  }

  // ---- listeners ----

  #emit<K extends keyof FollowEventMap>(event: K, value: FollowEventMap[K]): void {
    const set = this.#listeners.get(event)
    if (!set) return
    for (const listener of [...set]) {
      try {
        ;(listener as (v: FollowEventMap[K]) => void)(value)
      } catch (err) {
        // A listener's bug must not break the stream; still, never hide it.
        console.error('runbus client: a follow listener threw', err)
      }
    }
  }

  #setState(state: ConnectionState, extra: { delayMs?: number; error?: unknown } = {}): void {
    const previous = this.#state
    if (previous === state && state !== 'reconnecting') return
    this.#state = state
    const change: StateChange = { state, previous, reconnects: this.reconnects, ...extra }
    this.#emit('state', change)
  }

  // ---- connection side ----

  async #loop(): Promise<void> {
    const lifetime = this.#lifetime.signal
    let attempt = 1
    try {
      while (!lifetime.aborted) {
        const delivered = this.#delivered
        let error: unknown
        const connection = new AbortController()
        this.#connection = connection
        const cut = (): void => connection.abort()
        lifetime.addEventListener('abort', cut, { once: true })
        try {
          const outcome = await this.#connect(connection)
          if (outcome === 'end') {
            this.#stop(undefined, true)
            return
          }
        } catch (err) {
          if (lifetime.aborted) return
          if (err instanceof Fatal) {
            this.#stop({ error: err.error }, true)
            return
          }
          error = connection.signal.aborted ? connection.signal.reason : err
        } finally {
          lifetime.removeEventListener('abort', cut)
          connection.abort() // releases the socket if the body was not fully read
          this.#connection = undefined
        }
        if (lifetime.aborted) return
        // A connection that delivered something proves the hub is back: start over.
        if (this.#delivered > delivered) attempt = 1
        const backoff =
          this.#serverRetryMs !== undefined && this.#options.backoff?.initialMs === undefined
            ? { ...this.#backoff, initialMs: this.#serverRetryMs }
            : this.#backoff
        const delayMs = backoffDelay(attempt++, backoff)
        this.reconnects++
        this.#setState('reconnecting', error === undefined ? { delayMs } : { delayMs, error })
        if (error !== undefined) this.#emit('error', error)
        await sleep(delayMs, lifetime)
      }
    } finally {
      this.#setState('closed')
      this.#resolveClosed()
    }
  }

  #startAfter(after: string): void {
    this.#after = after
    // Ids are opaque, but when one is a seq we can drop anything at or before it.
    this.#lastSeq = seqOfId(after) ?? 0
  }

  /** `waitForRun`: true (after a pause) when a 404 should be asked again. */
  async #notYet(status: number, signal: AbortSignal): Promise<boolean> {
    const left = this.#waitUntil - Date.now()
    if (status !== 404 || this.#found || left <= 0) return false
    await sleep(Math.min(this.#waitDelay, left), signal)
    this.#waitDelay = Math.min(250, this.#waitDelay * 2)
    return !signal.aborted
  }

  /** Resolves `live` into the run's current last id (once), so a resume has a position. */
  async #resolveLive(signal: AbortSignal): Promise<void> {
    let info: { lastId?: string | null } | undefined
    for (;;) {
      try {
        info = await requestJson<{ lastId?: string | null }>(
          this.#transport,
          'GET',
          `/v1/runs/${seg(this.run)}`,
          { signal },
        )
        break
      } catch (err) {
        if (err instanceof HubError && (await this.#notYet(err.status, signal))) continue
        if (err instanceof HubError && err.status !== 0 && !retryable(err.status))
          throw new Fatal(err)
        throw err
      }
    }
    if (typeof info?.lastId === 'string') this.#startAfter(info.lastId)
    else this.#after = '' // no events yet: from the start is from now
  }

  /** One connection: resolves `'end'` after the run's end, `'eof'` when the hub closed early. */
  async #connect(connection: AbortController): Promise<'end' | 'eof'> {
    if (this.lastId === undefined && this.#after === undefined && this.#options.live)
      await this.#resolveLive(connection.signal)
    const headers = headersOf(this.#transport, { accept: 'text/event-stream' })
    const query: Record<string, string> = {}
    if (this.lastId !== undefined) headers.set('last-event-id', this.lastId)
    else if (this.#after) query.after = this.#after
    const url = urlOf(this.#transport, `/v1/runs/${seg(this.run)}/events`, query)
    let response: Response
    for (;;) {
      response = await send(this.#transport, url, {
        headers,
        signal: connection.signal,
        cache: 'no-store',
      })
      if (response.ok) break
      const error = await errorOf(response)
      if (await this.#notYet(response.status, connection.signal)) continue
      if (retryable(response.status)) throw error
      throw new Fatal(error)
    }
    this.#found = true
    if (!response.body)
      throw new HubError(response.status, 'no_body', 'the hub sent no event stream')
    this.#setState('connected')
    return this.#read(response.body, connection)
  }

  async #read(
    body: ReadableStream<Uint8Array>,
    connection: AbortController,
  ): Promise<'end' | 'eof'> {
    const reader = body.getReader()
    let ended = false
    let failure: unknown
    const parser = new SseParser({
      onMessage: (message) => {
        if (ended || failure !== undefined) return
        try {
          ended = this.#onFrame(message)
        } catch (err) {
          failure = err
        }
      },
      onRetry: (ms) => {
        this.#serverRetryMs = ms
      },
    })
    let idle: ReturnType<typeof setTimeout> | undefined
    const arm = (): void => {
      clearTimeout(idle)
      if (this.#idleTimeoutMs > 0)
        idle = setTimeout(
          () =>
            connection.abort(
              new HubError(0, 'idle_timeout', `nothing from the hub for ${this.#idleTimeoutMs} ms`),
            ),
          this.#idleTimeoutMs,
        )
    }
    try {
      arm()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        parser.feed(value)
        if (failure !== undefined) throw new Fatal(failure)
        if (ended) return 'end'
        if (this.#buffer.length >= this.#highWaterMark) {
          // The consumer is behind: stop pulling (TCP pushes back on the hub) until it catches up.
          clearTimeout(idle)
          await new Promise<void>((resolve) => (this.#space = resolve))
          if (this.#lifetime.signal.aborted) return 'eof'
        }
        arm()
      }
      return 'eof'
    } finally {
      clearTimeout(idle)
      reader.cancel().catch(() => undefined)
    }
  }

  /** Handles one SSE frame; returns true on the run's end. */
  #onFrame(message: SseMessage): boolean {
    const frame = decodeRunFrame(message.event, message.data)
    if (frame.kind === 'error') {
      // The hub's side of the stream failed. A backend outage is retried like a dropped
      // connection (the stream closes next); anything else (the run reset, created again or
      // gone) is the typed error, as in-process.
      const retryable =
        frame.error.code === 'backend_unavailable' || frame.error.code === 'internal'
      if (retryable) return false
      throw errorFromWire(statusOfCode(frame.error.code), { error: frame.error })
    }
    if (frame.kind === 'end') {
      this.end = frame.end
      const event = frame.event ?? this.#synthetic('end', frame.end, message.id ?? this.lastId)
      if (frame.event) this.#advance(frame.event)
      this.#deliver(event)
      return true
    }
    if (frame.kind === 'gap') {
      this.#gap(frame.gap, 'hub', frame.event)
      return false
    }
    const envelope = frame.event
    if (this.#lastSeq > 0 && envelope.seq <= this.#lastSeq) {
      this.duplicatesDropped++
      this.#emit('duplicate', envelope)
      return false
    }
    if (this.#lastSeq > 0 && envelope.seq > this.#lastSeq + 1) {
      const tag = epochTagOfId(envelope.id)
      this.#gap(
        { from: eventIdOf(this.#lastSeq + 1, tag), to: eventIdOf(envelope.seq - 1, tag) },
        'client',
      )
    }
    this.#advance(envelope)
    this.#deliver(envelope)
    return false
  }

  #advance(envelope: RunEvent): void {
    this.lastId = envelope.id
    if (envelope.seq > this.#lastSeq) this.#lastSeq = envelope.seq
  }

  #deliver(event: RunEvent): void {
    this.#delivered++
    this.#push(event)
  }

  #gap(data: GapData, source: 'hub' | 'client', envelope?: RunEvent): void {
    const from = seqOfId(data.from)
    const to = seqOfId(data.to)
    if (from !== undefined && to !== undefined && to >= from) this.gaps += to - from + 1
    // Resume past the hole: asking for it again would only bring the same gap back.
    if (to !== undefined && to > this.#lastSeq) {
      this.#lastSeq = to
      this.lastId = data.to
    }
    this.#emit('gap', { from: data.from, to: data.to, source })
    this.#deliver(envelope ?? this.#synthetic('gap', { from: data.from, to: data.to }, data.to))
  }

  #synthetic(type: string, data: unknown, id: string | undefined): RunEvent {
    const seq = id === undefined ? 0 : (seqOfId(id) ?? 0)
    return { id: id ?? '', run: this.run, seq, type, data, ts: Date.now() }
  }
}

/** Marks a failure the loop must not retry. */
class Fatal extends Error {
  constructor(readonly error: unknown) {
    super('fatal follow failure')
  }
}
