/**
 * The run feeds of one runbus instance: ONE backend watch per followed run per process,
 * shared by every cursor ({@link Follower}) on that run, with shared history reads and a
 * bounded window of recent events.
 *
 * Why: 10,000 readers of one run (in-process followers, hub SSE/NDJSON readers, ask waits)
 * must not cost 10,000 backend watches (on Redis, 10,000 blocking reads). A feed watches the
 * run's log once and hands each live batch (the backend's own array, copied for nobody) to
 * every cursor; each cursor keeps its own position and is paced by its own consumer.
 *
 * What a feed guarantees to a cursor that `attach`ed and awaited `ready`:
 * - every event appended from then on is offered to it (`onEvents`), possibly with events
 *   it already has (it drops them by seq), and possibly with holes, which it repairs by
 *   re-reading the log;
 * - when the backend says it lost its place (`onGap`), every cursor is told to re-read;
 * - `recentAfter(seq)` hands out contiguous recent events ending at the newest one the
 *   watch delivered, so a cursor resuming close to the head needs no backend read;
 * - `read` shares one backend page read between cursors asking for the same page at about
 *   the same time (a reconnect storm costs a few reads, not one per reader).
 *
 * Internal: the public face is `rb.runs.follow()`.
 */
import type { LogPage, Unsubscribe } from '../contract/contract.js'
import type { Context } from '../context.js'
import type { RunEvent } from '../events/envelope.js'

/** What a cursor gives the feed it attaches to. */
export interface FeedListener {
  /** New events, in append order (the backend's array: do not modify). */
  onEvents(events: readonly RunEvent[]): void
  /** The feed may have missed events: re-read the log from your position. */
  onGap(): void
  /** The feed failed for good (its watch could not be set up). */
  onError(err: unknown): void
}

/** Counters of the feeds of one instance, for `rb.stats()`. */
export interface FeedStats {
  /** Runs with a live feed (one backend watch each). */
  feeds: number
  /** Backend page reads that were shared with another cursor instead of issued again. */
  sharedReads: number
  /** Catch-ups served from the recent window, with no backend read. */
  recentHits: number
}

/** How a feed behaves (from `createRunbus({ follow })`). */
export interface FeedOptions {
  /** Recent events kept per feed (0: none). */
  recent: number
  /** How long a feed with no cursor keeps its watch, for cursors that come back (ms). */
  lingerMs: number
}

const registries = new WeakMap<Context, RunFeeds>()

/** The feeds of `ctx` (created on first use). */
export function feedsOf(ctx: Context): RunFeeds {
  let f = registries.get(ctx)
  if (f === undefined) {
    f = new RunFeeds(ctx)
    registries.set(ctx, f)
  }
  return f
}

/** Every feed of one instance. */
export class RunFeeds {
  readonly stats: FeedStats = { feeds: 0, sharedReads: 0, recentHits: 0 }
  readonly #feeds = new Map<string, RunFeed>()
  readonly ctx: Context
  #untrack: (() => void) | undefined

  constructor(ctx: Context) {
    this.ctx = ctx
  }

  /** Attaches `listener` to the feed of `run` (starting it when it is the first). */
  attach(run: string, listener: FeedListener): FeedLease {
    let feed = this.#feeds.get(run)
    if (feed === undefined) {
      feed = new RunFeed(this, run)
      this.#feeds.set(run, feed)
      this.stats.feeds = this.#feeds.size
      this.#untrack ??= this.ctx.track('feed', { close: () => this.closeAll() })
    }
    return feed.add(listener)
  }

  /** @internal A feed that stopped leaves the registry. */
  dropped(feed: RunFeed): void {
    if (this.#feeds.get(feed.run) === feed) this.#feeds.delete(feed.run)
    this.stats.feeds = this.#feeds.size
    if (this.#feeds.size === 0) {
      this.#untrack?.()
      this.#untrack = undefined
    }
  }

  /** Stops every feed (on `rb.close()`; their cursors were closed first). */
  closeAll(): void {
    for (const f of [...this.#feeds.values()]) f.stop()
  }
}

/** A cursor's membership in a feed. */
export interface FeedLease {
  /** Resolves once the backend watch is in place (rejects when it could not be set up). */
  readonly ready: Promise<void>
  readonly feed: RunFeed
  /** Leaves the feed. Idempotent. */
  release(): void
}

/** A cursor's membership: a small object with no closure (the hub holds thousands). */
class Lease implements FeedLease {
  #listener: FeedListener | undefined
  constructor(
    readonly feed: RunFeed,
    listener: FeedListener,
  ) {
    this.#listener = listener
  }
  get ready(): Promise<void> {
    return this.feed.ready
  }
  release(): void {
    const l = this.#listener
    if (l === undefined) return
    this.#listener = undefined
    this.feed.remove(l)
  }
}

/** One run's feed: one backend watch, many cursors. Internal. */
export class RunFeed {
  readonly run: string
  readonly listeners = new Set<FeedListener>()
  readonly ready: Promise<void>
  /** The highest seq the watch delivered (0: none yet). */
  lastSeq = 0
  /** Recent events the watch delivered, contiguous, ending at `lastSeq`. */
  #recent: RunEvent[] = []
  #unwatch: Unsubscribe | undefined
  #linger: ReturnType<typeof setTimeout> | undefined
  #stopped = false
  readonly #owner: RunFeeds
  /** In-flight history reads by position, numbered as they start. */
  readonly #reads = new Map<string, { id: number; page: Promise<LogPage> }>()
  #readIds = 0

  constructor(owner: RunFeeds, run: string) {
    this.#owner = owner
    this.run = run
    this.ready = owner.ctx.backend.runs
      .watch(run, {
        onEvents: (events) => this.#deliver(events),
        onGap: () => this.#gap(),
        onResync: () => this.#gap(),
      })
      .then((unwatch) => {
        if (this.#stopped) unwatch()
        else this.#unwatch = unwatch
      })
    this.ready.catch((err: unknown) => {
      for (const l of [...this.listeners]) l.onError(err)
      this.stop()
    })
  }

  add(listener: FeedListener): FeedLease {
    if (this.#linger !== undefined) {
      clearTimeout(this.#linger)
      this.#linger = undefined
    }
    this.listeners.add(listener)
    return new Lease(this, listener)
  }

  /** @internal A lease's release. */
  remove(listener: FeedListener): void {
    this.listeners.delete(listener)
    if (this.listeners.size > 0 || this.#stopped) return
    const linger = this.#owner.ctx.feed.lingerMs
    if (linger <= 0 || this.#owner.ctx.closed) {
      this.stop()
      return
    }
    this.#linger ??= setTimeout(() => {
      this.#linger = undefined
      if (this.listeners.size === 0) this.stop()
    }, linger)
    this.#linger.unref?.()
  }

  #deliver(events: readonly RunEvent[]): void {
    if (this.#stopped || events.length === 0) return
    const keep = this.#owner.ctx.feed.recent
    if (keep > 0) {
      for (const ev of events) {
        if (ev.seq <= this.lastSeq) continue
        if (ev.seq !== this.lastSeq + 1) this.#recent = []
        this.lastSeq = ev.seq
        this.#recent.push(ev)
      }
      if (this.#recent.length > keep * 2) this.#recent = this.#recent.slice(-keep)
    } else {
      const last = events[events.length - 1]
      if (last.seq > this.lastSeq) this.lastSeq = last.seq
    }
    for (const l of this.listeners) l.onEvents(events)
  }

  #gap(): void {
    if (this.#stopped) return
    this.#recent = []
    this.lastSeq = 0
    for (const l of this.listeners) l.onGap()
  }

  /**
   * Recent events after `afterSeq`, contiguous up to the newest the watch delivered, or
   * `undefined` when the window does not reach back to `afterSeq + 1` (or holds nothing
   * newer). Only meaningful to a cursor attached to this feed (later events reach it live).
   */
  recentAfter(afterSeq: number): RunEvent[] | undefined {
    const first = this.#recent[0]
    if (first === undefined || afterSeq + 1 < first.seq || afterSeq >= this.lastSeq) return
    this.#owner.stats.recentHits++
    return this.#recent.slice(afterSeq + 1 - first.seq)
  }

  /** The number the next history read will get (for `read`'s `notBefore`). */
  get nextRead(): number {
    return this.#readIds
  }

  /**
   * Reads up to `limit` events after `afterSeq`, joining a read of the same page already in
   * flight when it started at or after `notBefore` (so it started after the caller's live
   * buffer began: whatever it misses, the caller holds).
   */
  read(afterSeq: number, limit: number, notBefore: number): Promise<LogPage> {
    const key = `${afterSeq}:${limit}`
    const cur = this.#reads.get(key)
    if (cur !== undefined && cur.id >= notBefore) {
      this.#owner.stats.sharedReads++
      return cur.page
    }
    const entry = {
      id: this.#readIds++,
      page: this.#owner.ctx.backend.runs.read(this.run, afterSeq, limit),
    }
    this.#reads.set(key, entry)
    const drop = (): void => {
      if (this.#reads.get(key) === entry) this.#reads.delete(key)
    }
    entry.page.then(drop, drop)
    return entry.page
  }

  /** Stops watching. Cursors still attached are told to fail (they were closed first). */
  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    if (this.#linger !== undefined) clearTimeout(this.#linger)
    this.#linger = undefined
    this.#unwatch?.()
    this.#unwatch = undefined
    this.#recent = []
    this.#owner.dropped(this)
  }
}
