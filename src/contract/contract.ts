/**
 * The backend contract: the few storage and messaging primitives every part of runbus is
 * written against. Run streams, the bus, asks and work queues are written once, on top of
 * this; a backend (memory, Redis, …) is done when `test/conformance/` passes on it.
 *
 * The contract speaks in plain values and encoded strings. No client types (ioredis…)
 * appear here: each adapter owns its connections.
 *
 * Guarantees every backend keeps are stated on each member. Where a method fails because
 * the backend cannot be reached it rejects with `BackendUnavailableError` within a bounded
 * time: never hangs forever.
 */
import type { InboxMessage, RunEnd, RunEvent, RunStatus } from '../events/envelope.js'
import type { WorkStore } from './work-contract.js'

export type { WorkStore } from './work-contract.js'

/** Stops a watch or subscription. Idempotent; safe to call from inside the listener. */
export type Unsubscribe = () => void

/** What `createRun` stores about a run. */
export interface RunInit {
  id: string
  meta?: Record<string, unknown>
  /** Keep at most this many events (oldest trimmed first). */
  maxEvents: number
  /**
   * Keep at most this many inbox messages (oldest trimmed first; a reader behind the trim
   * skips ahead). Optional: a backend that does not trim inboxes yet ignores it.
   */
  maxInboxMessages?: number
  /**
   * Who created the run (the hub passes its token's subject), for the core's running-run
   * quota. Backends need not store it.
   */
  owner?: string
  /** Created-at time, epoch ms. */
  ts: number
}

/** What a backend knows about one run. */
export interface RunInfo {
  id: string
  status: RunStatus
  meta?: Record<string, unknown>
  createdAt: number
  endedAt?: number
  error?: string
  /** Events ever appended (the last seq). The `end` event counts. */
  lastSeq: number
  /** The first seq still retained (`lastSeq + 1` when nothing is retained). */
  firstSeq: number
  /** Events removed by `maxEvents` trimming. */
  trimmed: number
}

/** An event before the backend gives it an id and a seq. */
export interface EventDraft {
  type: string
  /** The data, as given by the emitter. */
  data: unknown
  /** `JSON.stringify(data)`, computed once by the core (it also measured its size). */
  json: string
  /** Emit time, epoch ms (a run handle stamps a batch when it first sends it). */
  ts: number
  /**
   * True when the core froze `data` deeply and it is plain JSON data (equal to what `json`
   * decodes to): a backend in the emitter's process may hand `data` itself to readers
   * instead of decoding `json` (see `src/events/shared-data.ts`).
   */
  shared?: boolean
}

/** The result of reading a stretch of a run's log. */
export interface LogPage {
  /** Events with `seq > afterSeq`, in order, at most `limit`. */
  events: RunEvent[]
  /** The first seq still retained when the read happened. */
  firstSeq: number
  /** The last seq appended when the read happened. */
  lastSeq: number
  /** Whether the run had ended when the read happened. */
  ended: boolean
  /**
   * The run's incarnation (its creation time, epoch ms): a run id created again (after its
   * TTL, or on a Redis that restarted empty) has another, so a follower can tell that the
   * log it follows was replaced. Optional: a backend that cannot tell leaves it out.
   */
  epoch?: number
}

/**
 * Receives a run's new events, live.
 *
 * `onEvents` is called with batches in append order. From the moment `watch` resolved,
 * every event appended is delivered exactly once to this listener, unless `onGap` says
 * otherwise (the backend lost its place, e.g. entries trimmed while it reconnected). Events
 * appended just before the watch began may also be delivered; callers drop them by seq.
 */
export interface LogListener {
  onEvents(events: RunEvent[]): void
  /** Some events could not be delivered; the caller should re-read from `afterSeq`. */
  onGap?(afterSeq: number): void
  /**
   * The backend's connection came back and it may now talk to another server (Redis
   * restarted empty, a failover): nothing is known lost, but the caller should re-read from
   * its position to check that the run is still the one it followed (its epoch).
   */
  onResync?(): void
  /** A stored entry could not be decoded; it was skipped, and this reports it. */
  onError?(err: Error): void
}

/**
 * Run logs: one ordered, append-only log per run, with its status.
 *
 * Invariants:
 * - `append` is atomic per call: all events of the batch get consecutive seqs (and ids
 *   `eventIdOf(seq, epochTagOf(run's createdAt))`) or none are stored. Concurrent appenders (even in other processes) never
 *   get the same seq.
 * - After `end` no append succeeds (`RunEndedError`), and `end` itself happens once.
 * - Trimming to `maxEvents` is counted in `RunInfo.trimmed`.
 * - After the run ended and `ttlMs` passed, the run and its log are gone
 *   (`RunNotFoundError`), not half there.
 */
export interface RunLogStore {
  /** Stores a new run. Rejects with `RunExistsError` when the id is taken. */
  createRun(init: RunInit): Promise<RunInfo>
  /** The run's info, or `undefined` when there is no such run. */
  getRun(run: string): Promise<RunInfo | undefined>
  /** Runs, newest first, optionally only those with `status`. */
  listRuns(query: { status?: RunStatus; limit: number }): Promise<RunInfo[]>
  /**
   * Appends a batch; resolves with the stored envelopes. `RunNotFoundError`,
   * `RunEndedError` as above.
   */
  append(run: string, events: EventDraft[]): Promise<RunEvent[]>
  /**
   * Appends the final `end` event (`data: RunEnd`) and marks the run ended, atomically;
   * expires the run `ttlMs` later (`Infinity`: keeps it). `RunEndedError` when it had
   * already ended.
   */
  endRun(run: string, end: RunEnd, ts: number, ttlMs: number): Promise<RunEvent<RunEnd>>
  /**
   * Reads events with `seq > afterSeq`, at most `limit` (>= 1). `RunNotFoundError` when
   * absent. When `afterSeq + 1 < firstSeq` the events in between were trimmed: the core
   * turns that into a `gap`.
   */
  read(run: string, afterSeq: number, limit: number): Promise<LogPage>
  /**
   * Starts delivering new events to `listener` (see `LogListener`). It does not check that
   * the run exists (a watch of an unknown run receives nothing): callers learn that from
   * `read` / `getRun`, which they call after the watch resolved.
   */
  watch(run: string, listener: LogListener): Promise<Unsubscribe>
  /**
   * Appends to the run's inbox (same numbering rules, its own seq). `RunNotFoundError` when
   * absent, `RunEndedError` once the run ended (the inbox closes with the run).
   */
  sendInbox(run: string, draft: EventDraft): Promise<InboxMessage>
  /**
   * Inbox messages this store dropped from the front of inboxes to keep them at their run's
   * `maxInboxMessages`, counted in this process since it opened (`rb.stats().inboxTrimmed`).
   * Optional: a store that does not trim, or cannot tell, leaves it out.
   */
  readonly inboxTrimmed?: number
  /** Reads inbox messages with `seq > afterSeq`. */
  readInbox(run: string, afterSeq: number, limit: number): Promise<InboxMessage[]>
  /** Delivers new inbox messages, with the same guarantees as `watch`. */
  watchInbox(
    run: string,
    listener: { onMessages(messages: InboxMessage[]): void },
  ): Promise<Unsubscribe>
}

/** Receives broadcast messages. */
export interface BroadcastListener {
  onMessage(channel: string, payload: string): void
  /**
   * The backend's connection dropped and came back: messages published meanwhile may be
   * lost (pub/sub keeps nothing). Called once per interruption, after it reconnected.
   */
  onInterrupted?(info: { since: number; until: number }): void
}

/**
 * Broadcast: fire-and-forget publish/subscribe on dot-separated channels. Nothing is kept.
 *
 * Patterns: `*` matches exactly one segment, `>` (last only) one or more segments; a
 * pattern without wildcards matches that channel only. A backend whose native patterns
 * differ (Redis globs) must filter so the result is exactly these semantics.
 */
export interface Broadcast {
  /** Publishes; resolves once the backend accepted it. */
  publish(channel: string, payload: string): Promise<void>
  /** Subscribes; resolves once messages published afterwards will be delivered. */
  subscribe(pattern: string, listener: BroadcastListener): Promise<Unsubscribe>
}

/**
 * Small key/value records with expiry, for asks and idempotency.
 * Values are strings (JSON, encoded by the caller).
 */
export interface KeyValueStore {
  /** The value, or `undefined` when absent or expired. */
  get(key: string): Promise<string | undefined>
  /** Stores the value; `ttlMs` omitted = no expiry. */
  set(key: string, value: string, ttlMs?: number): Promise<void>
  /** Stores the value only when the key is absent. `true` when it was stored. Atomic. */
  setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean>
  /** Removes the key. */
  delete(key: string): Promise<void>
}

/**
 * A backend: everything runbus needs from storage and messaging.
 * Create one per process (or per test) and pass it to `createRunbus({ backend })`.
 */
export interface Backend {
  /** A short name for logs and metrics, e.g. `memory` or `redis`. */
  readonly name: string
  /** Whether events survive the process (`false` for memory). */
  readonly durable: boolean
  readonly runs: RunLogStore
  readonly broadcast: Broadcast
  readonly kv: KeyValueStore
  readonly work: WorkStore
  /** Resolves when the backend answers; rejects with `BackendUnavailableError`. */
  ping(): Promise<void>
  /** Releases every connection, timer and listener. Idempotent. */
  close(): Promise<void>
}
