/**
 * `createRunbus()`: one instance of runbus over one backend. Everything an instance holds
 * (followers, subscriptions, waiters, asks, inbox watches, run handles) is registered in
 * its context and released by `close()`; there is no module-global state, so two instances
 * in one process never see each other unless they share a backend.
 */
import type { Backend } from './contract/contract.js'
import { memoryBackend } from './backends/memory/index.js'
import { createContext, type ResourceKind } from './context.js'
import { withBudgets } from './budget.js'
import { ClosedError, InvalidArgumentError } from './events/errors.js'
import { DEFAULT_MAX_PAYLOAD_BYTES } from './events/codec.js'
import { createRunsApi, type RunsApi } from './agent/runs.js'
import { feedsOf } from './streams/feed.js'
import { createBus, type BusApi } from './bus/bus.js'
import { createAsks, type AsksApi } from './asks/asks.js'
import { createWorkApi, type WorkApi } from './work/index.js'

/**
 * Options of {@link createRunbus}.
 *
 * @example
 * ```ts
 * createRunbus({ limits: { maxPayloadBytes: 64 * 1024 }, retention: { maxEvents: 1000, ttlMs: 600_000 } })
 * ```
 */
export interface RunbusOptions {
  /**
   * Where everything lives. Default: a new `memoryBackend()`, owned (and closed) by this
   * instance. A backend you pass is not closed by `rb.close()`: close it yourself (it may be
   * shared by several instances).
   */
  backend?: Backend
  /**
   * Close the backend you passed when this instance closes (`rb.close()`), as if the
   * instance had made it. Use it when the backend serves this instance only (the common
   * case: `createRunbus({ backend: redisBackend({ url }), ownBackend: true })`); leave it
   * off when several instances share one backend. Default `false` for a backend you pass.
   */
  ownBackend?: boolean
  limits?: {
    /** Largest encoded JSON payload of an event, inbox message or bus message. Default 1 MiB. */
    maxPayloadBytes?: number
    /**
     * Bytes of encoded event data one run may take in over its life through this instance;
     * a batch past it is refused whole (`InsufficientStorageError`, budget `run`).
     * Default 64 MiB. `Infinity`: no budget.
     */
    maxRunBytes?: number
    /**
     * Bytes of encoded data one run's inbox may take in over its life (budget `inbox`).
     * Default 4 MiB. `Infinity`: no budget.
     */
    maxInboxBytes?: number
    /**
     * Running runs one owner (`rb.runs.create({ owner })`; the hub passes its token's
     * subject) may hold at once; the next create is refused with `QuotaExceededError`.
     * Runs without an owner are not counted. Default 100. `Infinity`: no quota.
     */
    maxRunningRunsPerOwner?: number
    /**
     * A running run this instance created or wrote to that gets no event for this long is
     * ended `failed` with error `abandoned: …` (a pending ask holds it until the ask
     * expires). Default 1 hour. `Infinity`: never.
     */
    runIdleMs?: number
  }
  retention?: {
    /** Events kept per run (oldest trimmed first, counted). Default 10,000. */
    maxEvents?: number
    /**
     * Inbox messages kept per run (oldest trimmed first; the memory backend trims, others
     * may keep more). Default 1,000.
     */
    maxInboxMessages?: number
    /** How long an ended run stays readable, ms. Default 1 hour. `Infinity`: forever. */
    ttlMs?: number
  }
  asks?: {
    /**
     * How long an answer given in one instance waits for the instance holding the ask's
     * schema to check it, before it is refused with `BackendUnavailableError`. Default 5 s.
     */
    verdictTimeoutMs?: number
  }
  follow?: {
    /** Events per history read. Default 1,000. */
    pageSize?: number
    /** Live events a follower buffers before falling back to re-reading the log. Default 10,000. */
    bufferSize?: number
    /**
     * Recent events each run feed keeps, so a follower resuming close to the head (a
     * reconnecting reader) needs no backend read. Default 256; 0 keeps none.
     */
    recent?: number
    /**
     * How long a run's feed keeps its backend watch after its last follower left, for
     * followers that come back (a hub's reconnecting readers). Default 0 (released at once).
     */
    lingerMs?: number
  }
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer`)
  }
  return value
}

/**
 * Counters of an instance: live resources (exact; all zero after `close()`) and what was
 * dropped or re-read, so nothing is lost silently.
 *
 * @example
 * ```ts
 * const { followers, subscriptions } = rb.stats()
 * ```
 */
export interface RunbusStats {
  followers: number
  subscriptions: number
  /** Pending `bus.waitFor` calls. */
  waiters: number
  /** Asks being waited for (`run.ask`, `asks.wait`). */
  asks: number
  /**
   * Asks made with `rb.asks.create` whose expiry timer (or schema) this instance holds until
   * they are answered or expire here.
   */
  armedAsks: number
  /** Inbox watches of run handles. */
  inboxes: number
  /** Run handles with events not yet stored. */
  runs: number
  /** Backend subscriptions (patterns) held by the bus. */
  busPatterns: number
  /** Bus messages that were not runbus payloads and were skipped. */
  busDecodeErrors: number
  /** Times a follower's live buffer overflowed and it fell back to the log. */
  followerOverflows: number
  /** Re-reads of the log caused by holes or overflows. */
  followerRereads: number
  /** `gap` events delivered (history that was trimmed). */
  gaps: number
  /** Emit batches the backend refused. */
  emitFailures: number
  /** Appends refused by the per-run byte budget (`limits.maxRunBytes`). */
  runBytesRefused: number
  /** Inbox sends refused by the per-inbox byte budget (`limits.maxInboxBytes`). */
  inboxBytesRefused: number
  /** Run creations refused by the running-run quota (`limits.maxRunningRunsPerOwner`). */
  quotaRefused: number
  /** Running runs ended as abandoned by the idle timeout (`limits.runIdleMs`). */
  runsAbandoned: number
  /** Inbox reads that failed and were tried again after a back-off. */
  inboxReadRetries: number
  /**
   * Inbox messages the backend dropped (oldest first) to keep inboxes at
   * `retention.maxInboxMessages`, counted by this process's sends.
   */
  inboxTrimmed: number
  /** Runs followed in this process: one backend watch each, however many followers. */
  feeds: number
  /** History reads a follower joined instead of issuing (another follower's, or recent events). */
  sharedReads: number
}

/**
 * A runbus instance.
 *
 * @example
 * ```ts
 * const rb = createRunbus()
 * const run = await rb.runs.create()
 * run.text('hi')
 * await run.end()
 * await rb.close()
 * ```
 */
export interface Runbus {
  /** Run streams: create, follow, read, inbox. */
  readonly runs: RunsApi
  /** Publish/subscribe on channels. */
  readonly bus: BusApi
  /** Human-in-the-loop asks. */
  readonly asks: AsksApi
  /** Durable work queues. */
  readonly work: WorkApi
  /** The backend in use. */
  readonly backend: Backend
  /** Live resources and loss counters. */
  stats(): RunbusStats
  /**
   * Stores what run handles still have pending (best effort), then ends every follower,
   * subscription and waiter with `ClosedError` and releases every watch and timer.
   * Idempotent.
   */
  close(): Promise<void>
  /** `await using rb = createRunbus()` */
  [Symbol.asyncDispose](): Promise<void>
}

const KNOWN: Readonly<Record<string, readonly string[]>> = {
  '': ['backend', 'ownBackend', 'limits', 'retention', 'asks', 'follow'],
  limits: [
    'maxPayloadBytes',
    'maxRunBytes',
    'maxInboxBytes',
    'maxRunningRunsPerOwner',
    'runIdleMs',
  ],
  retention: ['maxEvents', 'maxInboxMessages', 'ttlMs'],
  asks: ['verdictTimeoutMs'],
  follow: ['pageSize', 'bufferSize', 'recent', 'lingerMs'],
}

/** Unknown option names are errors (a typo must not silently fall back to a default). */
function checkNames(options: object): void {
  for (const [group, names] of Object.entries(KNOWN)) {
    const obj: unknown = group === '' ? options : (options as Record<string, unknown>)[group]
    if (obj === undefined) continue
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw new InvalidArgumentError(`${group} must be an object`)
    for (const k of Object.keys(obj)) {
      if (!names.includes(k))
        throw new InvalidArgumentError(
          `unknown option ${JSON.stringify(group === '' ? k : `${group}.${k}`)} of createRunbus (known: ${names.join(', ')})`,
        )
    }
  }
}

function positive(
  name: string,
  value: number | undefined,
  fallback: number,
  allowInfinity = false,
): number {
  if (value === undefined) return fallback
  if (
    !(value > 0) ||
    (!allowInfinity && !Number.isFinite(value)) ||
    (Number.isFinite(value) && !Number.isInteger(value))
  ) {
    throw new InvalidArgumentError(
      `${name} must be a positive integer${allowInfinity ? ' or Infinity' : ''}`,
    )
  }
  return value
}

/**
 * Creates a runbus instance.
 *
 * Use one per process (or per test). Gotchas: `close()` it; a backend you pass in is
 * yours to close; every option is validated up front (`InvalidArgumentError`).
 *
 * @example
 * ```ts
 * import { createRunbus } from 'runbus'
 * const rb = createRunbus()
 * for await (const e of rb.runs.follow(runId)) console.log(e.type, e.data)
 * ```
 */
export function createRunbus(options: RunbusOptions = {}): Runbus {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('createRunbus options must be an object')
  checkNames(options)
  if (options.ownBackend !== undefined && typeof options.ownBackend !== 'boolean')
    throw new InvalidArgumentError('ownBackend must be a boolean')
  const owned = options.backend === undefined || options.ownBackend === true
  const l = options.limits ?? {}
  const ttlMs =
    options.retention?.ttlMs === 0
      ? 0
      : positive('retention.ttlMs', options.retention?.ttlMs, 3_600_000, true)
  const budgets = {
    maxRunBytes: positive('limits.maxRunBytes', l.maxRunBytes, 64 * 1024 * 1024, true),
    maxInboxBytes: positive('limits.maxInboxBytes', l.maxInboxBytes, 4 * 1024 * 1024, true),
    maxRunningRunsPerOwner: positive(
      'limits.maxRunningRunsPerOwner',
      l.maxRunningRunsPerOwner,
      100,
      true,
    ),
    runIdleMs: positive('limits.runIdleMs', l.runIdleMs, 3_600_000, true),
    ttlMs,
  }
  const given = options.backend ?? memoryBackend()
  const counters = {
    runBytesRefused: 0,
    inboxBytesRefused: 0,
    quotaRefused: 0,
    runsAbandoned: 0,
  }
  // Every part writes through the budgeted store; `rb.backend` stays the backend given.
  const backend = withBudgets(given, budgets, counters)
  const ctx = createContext({
    backend,
    maxPayloadBytes: positive(
      'limits.maxPayloadBytes',
      options.limits?.maxPayloadBytes,
      DEFAULT_MAX_PAYLOAD_BYTES,
    ),
    maxEvents: positive('retention.maxEvents', options.retention?.maxEvents, 10_000),
    maxInboxMessages: positive(
      'retention.maxInboxMessages',
      options.retention?.maxInboxMessages,
      1_000,
    ),
    ttlMs,
    pageSize: positive('follow.pageSize', options.follow?.pageSize, 1000),
    followerBuffer: positive('follow.bufferSize', options.follow?.bufferSize, 10_000),
    feed: {
      recent: nonNegative('follow.recent', options.follow?.recent, 256),
      lingerMs: nonNegative('follow.lingerMs', options.follow?.lingerMs, 0),
    },
  })
  const feeds = feedsOf(ctx)
  const bus = createBus(ctx)
  const asks = createAsks(
    ctx,
    bus,
    positive('asks.verdictTimeoutMs', options.asks?.verdictTimeoutMs, 5_000),
  )
  const runs = createRunsApi(ctx, asks.ask)
  const work = createWorkApi(backend, { publish: (ch, data) => bus.publish(ch, data) })
  let closing: Promise<void> | undefined

  async function close(): Promise<void> {
    if (ctx.closed) return
    const handles = [...ctx.live.run]
    await Promise.all(handles.map((h) => h.drain?.() ?? Promise.resolve()))
    ctx.closed = true
    const reason = new ClosedError()
    const kinds: ResourceKind[] = [
      'follower',
      'subscription',
      'waiter',
      'ask',
      'armed',
      'inbox',
      'run',
      'feed',
    ]
    for (const kind of kinds) for (const r of [...ctx.live[kind]]) r.close(reason)
    await work.close()
    backend.stop()
    if (owned) await given.close()
  }

  const rb: Runbus = {
    runs,
    bus,
    asks: asks.api,
    work,
    backend: given,
    stats() {
      const b = bus.stats()
      return {
        followers: ctx.live.follower.size,
        subscriptions: ctx.live.subscription.size,
        waiters: ctx.live.waiter.size,
        asks: ctx.live.ask.size,
        armedAsks: ctx.live.armed.size,
        inboxes: ctx.live.inbox.size,
        runs: ctx.live.run.size,
        busPatterns: b.patterns,
        busDecodeErrors: b.decodeErrors,
        ...ctx.counters,
        ...counters,
        inboxTrimmed: backend.runs.inboxTrimmed ?? 0,
        feeds: feeds.stats.feeds,
        sharedReads: feeds.stats.sharedReads + feeds.stats.recentHits,
      }
    },
    close() {
      closing ??= close()
      return closing
    },
    [Symbol.asyncDispose]() {
      return rb.close()
    },
  }
  return rb
}
