/**
 * THE follow engine: history from the point asked, then live, with no gap and no duplicate
 * at the seam however appends interleave. Every reader of a run log is a cursor here:
 * `rb.runs.follow`, the asks' outcome wait, and the hub's SSE/NDJSON readers and compat
 * polling (through `rb.runs.follow` too). Cursors of one run in one process share one
 * backend watch, their history reads and a window of recent events (`./feed.ts`); each
 * keeps its own position and is paced by its own consumer.
 *
 * The algorithm, and why it is correct on every backend:
 * 1. Attach to the run's feed first (one backend watch per run per process). From the
 *    moment its watch resolved, every append reaches our buffer.
 * 2. Then read history pages from `last` (the last seq delivered). Whatever was appended
 *    while we read is in the buffer too; delivering only `seq === last + 1` drops the overlap.
 * 3. Live: take buffered batches. An event with `seq > last + 1` means a hole (the backend
 *    lost its place, or we dropped our buffer): go back to step 2 from `last`. The log is
 *    the buffer of last resort, so a follower that does not read never makes the process
 *    hold more than `followerBuffer` live events: past that, its buffer is dropped
 *    (counted) and it re-reads the log when it resumes.
 * 4. History older than retained becomes one `gap` event (`seq = firstSeq - 1`, so resuming
 *    after the gap's id continues right after it), never a silent skip.
 * 5. It finishes after delivering the `end` event; a run that had ended before `after`
 *    finishes at once.
 *
 * Live batches are the backend's arrays, shared by every follower: fan-out copies nothing.
 * A consumer parked in `nextBatch()` with a live handler (`setLive`, the hub's readers) is
 * handed a new batch during the feed's delivery itself, when the batch continues its
 * position exactly and nothing is on its way to it; everything else takes the buffer, so
 * the seam, the holes and the bound work as in step 3.
 */
import type { Context } from '../context.js'
import {
  epochOfId,
  epochTagOf,
  eventIdOf,
  parseEventId,
  sameEpoch,
  type GapData,
  type RunEvent,
} from '../events/envelope.js'
import { InvalidArgumentError, RunNotFoundError, RunResetError } from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { feedsOf, type FeedLease } from './feed.js'

/**
 * Where and how to follow a run.
 *
 * @example
 * ```ts
 * rb.runs.follow(runId, { after: lastSeenId, signal: req.signal })
 * ```
 */
export interface FollowOptions {
  /**
   * Start after this event id, from the `'start'` of what is retained (default), or from
   * `'now'` (only events appended from here on; an ended run still yields its `end`).
   * An id names the run's incarnation too: an id of a run that was reset or created again
   * since ends the follower with `RunResetError` (a `RunNotFoundError`), never with the new
   * run's events from that position on.
   */
  after?: string | undefined
  /** Ends the follower; the loop then throws `signal.reason`. */
  signal?: AbortSignal | undefined
  /**
   * Live events buffered before this follower falls back to re-reading the log (default:
   * the instance's `follow.bufferSize`, 10,000).
   */
  bufferSize?: number | undefined
  /**
   * Whether a follower from `'start'` announces history trimmed before the first retained
   * event with a `gap` (default `true`). `false` begins quietly with what is retained (the
   * hub's readers without a `Last-Event-ID`). A position given by id always gets its gap.
   */
  gapAtStart?: boolean | undefined
  /**
   * Start the reader before the writer: wait up to this many ms for a run that does not
   * exist yet (checked every 25–250 ms), then follow it as usual. Still missing after the
   * wait: `RunNotFoundError`, as without the option. The `signal` cancels the wait.
   * Default `0` (a missing run fails at once).
   */
  waitForRun?: number | undefined
}

const FOLLOW_OPTIONS = {
  after: 'string',
  signal: 'signal',
  bufferSize: 'number',
  gapAtStart: 'boolean',
  waitForRun: 'number',
} as const

/**
 * Counters of one follower.
 *
 * @example
 * ```ts
 * console.log(follower.stats.overflows)
 * ```
 */
export interface FollowerStats {
  /** Events handed to the reader (gap events included). */
  delivered: number
  /** Times the live buffer overflowed and was dropped in favour of re-reading the log. */
  overflows: number
  /** History reads (pages) issued. */
  reads: number
  /** Gap events delivered. */
  gaps: number
  /** History pages served by the shared feed (another cursor's read, or the recent window). */
  shared: number
}

const REREAD = Symbol('reread')
type Item = readonly RunEvent[] | typeof REREAD
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

/**
 * @internal What `Follower.setLive` hands live events to (an object, so that a reader can be
 * its own handler: no closure per connection).
 */
export interface LiveHandler {
  /** `true` when it took them (they count as delivered), `false` to let them wait for `nextBatch()`. */
  offer(events: readonly RunEvent[]): boolean
  /**
   * Called (synchronously, from inside the feed's delivery or a close) once after `pull()`
   * returned {@link PARKED}: something is ready for the next `pull()`. Must not pull from
   * inside the call; schedule it.
   */
  wake(): void
}

/**
 * @internal What `Follower.pull()` answers when nothing is in hand: the cursor parked,
 * holding no promise; its live handler's `wake()` is called when the next `pull()` has
 * something.
 */
export const PARKED = 0

/**
 * @internal One answer of `Follower.pull()`: events in order, `null` once finished,
 * {@link PARKED}, or a promise to wait for before pulling again (a history read, the
 * start). A failure is thrown (once; then `null`).
 */
export type Pulled = readonly RunEvent[] | null | typeof PARKED | Promise<void>

/** A follower as a resource of its instance (`rb.close()` ends it), without a closure. */
class Tracked {
  constructor(readonly follower: Follower) {}
  close(reason: Error): void {
    this.follower.closeWith(reason)
  }
}

/**
 * A live view of one run: an async iterable of its events that finishes after `end`.
 *
 * Use `for await`; `break`, `close()` or `await using` release it (its watch and buffer).
 * Gotchas: one reader per follower (create another for another reader); on
 * `signal` abort the loop throws `signal.reason`, on `rb.close()` a `ClosedError`; a
 * `gap` event (type `'gap'`, data `{ from, to }`) reports history that was trimmed.
 *
 * @example
 * ```ts
 * await using f = rb.runs.follow(runId, { after: 'start' })
 * for await (const e of f) console.log(e.seq, e.type, e.data)
 * ```
 */
export class Follower implements AsyncIterableIterator<RunEvent> {
  /** The run followed. */
  readonly run: string
  /** Counters, exact at every moment. */
  readonly stats: FollowerStats = { delivered: 0, overflows: 0, reads: 0, gaps: 0, shared: 0 }

  private readonly ctx: Context
  private readonly start: 'start' | 'now' | number
  private readonly signal: AbortSignal | undefined
  private readonly bufferSize: number
  private readonly gapAtStart: boolean
  private firstRead = true
  private lease: FeedLease | undefined = undefined
  /** Shared reads this cursor may join: only those started after its buffer was complete. */
  private notBefore = 0
  private readonly readyP: Promise<void>
  /** The incarnation of the run this follower follows (from its first read). */
  private epoch: number | undefined = undefined
  /**
   * Live batches (and re-read marks) waiting for the consumer, oldest at `head`: one consumer
   * and a bound (`bufferSize` events) need no more than an array, made on first use. A hub
   * reader served through its `live` handler mostly never makes one (the hub holds thousands).
   */
  private items: Item[] | undefined = undefined
  private head = 0
  /** Wakes the consumer parked in `step()`. */
  private wake: (() => void) | undefined = undefined
  /** @see setLive */
  private live: LiveHandler | undefined = undefined
  /** The consumer is parked in `step()` with nothing on its way to it. */
  private parked = false
  private buffered = 0
  private batch: readonly RunEvent[] | undefined = undefined
  private idx = 0
  private last = 0
  private needRead = true
  private initialized = false
  private caughtUp = false
  /** A gap found by the last history read, delivered before that read's events. */
  private gap: RunEvent<GapData> | undefined = undefined
  private finished = false
  private failure: unknown = undefined
  private failureThrown = false
  private readonly tracked: Tracked
  /** Made on first use of `closed` (a hub holds thousands of followers nobody asks). */
  private closedP: Promise<void> | undefined = undefined
  private resolveClosed: (() => void) | undefined = undefined
  /** The consumer pulls with `pull()` and is told by `live.wake()`, not by a promise. */
  private wakeLive = false
  private readonly waitForRun: number

  /** @internal Use `rb.runs.follow()`. */
  constructor(ctx: Context, run: string, options: FollowOptions = {}) {
    checkOptions('follow', options, FOLLOW_OPTIONS)
    this.ctx = ctx
    this.run = run
    const wait = options.waitForRun ?? 0
    if (!(wait >= 0) || !Number.isFinite(wait))
      throw new InvalidArgumentError('waitForRun must be a finite number of ms, 0 or more')
    this.waitForRun = wait
    const after = options.after ?? 'start'
    if (after === 'start' || after === 'now') this.start = after
    else {
      const pos = typeof after === 'string' ? parseEventId(after) : undefined
      if (pos === undefined) {
        throw new InvalidArgumentError(
          `after must be an event id, 'start' or 'now', got ${JSON.stringify(after)}`,
        )
      }
      this.start = pos.seq
      // The id names the incarnation it was issued in: the first page checks it.
      this.epoch = pos.epoch
    }
    const size = options.bufferSize ?? ctx.followerBuffer
    if (!(size >= 1)) throw new InvalidArgumentError('bufferSize must be at least 1')
    this.bufferSize = size
    this.gapAtStart = options.gapAtStart ?? true
    this.signal = options.signal
    ctx.checkOpen()
    this.tracked = new Tracked(this)
    ctx.track('follower', this.tracked)
    if (this.signal !== undefined) {
      if (this.signal.aborted) this.fail(this.signal.reason)
      else this.signal.addEventListener('abort', this, { once: true })
    }
    // Start at once (not on the first next()): the position is fixed as early as possible,
    // and `ready` tells when.
    this.readyP =
      this.failure === undefined
        ? this.init().catch((err: unknown) => {
            this.fail(err)
            throw err
          })
        : this.rejected()
    this.readyP.catch(() => {})
  }

  /**
   * Resolves once the follower's position is fixed and its live feed is in place: from then
   * on every event appended (by any process) is delivered. With `after: 'now'`, await it
   * before triggering what you wait for. Rejects with the reason the follower failed to
   * start (`RunNotFoundError`, `ClosedError`, the signal's reason); a follower closed before
   * it started resolves it.
   *
   * @example
   * ```ts
   * const f = rb.runs.follow(id, { after: 'now' })
   * await f.ready
   * await rb.runs.send(id, { type: 'go' }) // whatever the agent emits now, f sees
   * ```
   */
  get ready(): Promise<void> {
    return this.readyP
  }

  /** Resolves once the follower ended (finished, closed, aborted or failed). Never rejects. */
  get closed(): Promise<void> {
    if (this.closedP === undefined) {
      this.closedP =
        this.finished || this.failure !== undefined
          ? Promise.resolve()
          : new Promise((resolve) => (this.resolveClosed = resolve))
    }
    return this.closedP
  }

  private async rejected(): Promise<void> {
    throw this.failure
  }

  /** The seq of the last event delivered (0: none; the start position until then). */
  get position(): number {
    return this.last
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  /** Ends the follower quietly (the loop finishes). Idempotent. */
  close(): void {
    this.finish()
  }

  /** Same as `close()`: what `for await … break` calls. */
  return(): Promise<IteratorResult<RunEvent, undefined>> {
    this.finish()
    return Promise.resolve(DONE)
  }

  /** `await using f = rb.runs.follow(…)` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.finish()
  }

  /** The next event; see the class comment for how it ends. */
  next(): Promise<IteratorResult<RunEvent, undefined>> {
    // Fast path, no async frame: the next event is already in hand.
    const b = this.batch
    if (b !== undefined && this.gap === undefined && this.failure === undefined) {
      const e = b[this.idx]
      if (e !== undefined && e.seq === this.last + 1) {
        this.idx++
        return Promise.resolve(this.deliver(e))
      }
    }
    return this.slowNext()
  }

  private async slowNext(): Promise<IteratorResult<RunEvent, undefined>> {
    for (;;) {
      if (this.failure !== undefined) return this.throwFailure()
      const gap = this.gap
      if (gap !== undefined) {
        this.gap = undefined
        return this.deliver(gap)
      }
      const b = this.batch
      if (b !== undefined) {
        while (this.idx < b.length) {
          const e = b[this.idx++]
          if (e.seq <= this.last) continue
          if (e.seq > this.last + 1) {
            // A hole in what we were handed: the log has the missing part.
            this.holeFound()
            break
          }
          return this.deliver(e)
        }
        this.batch = undefined
      }
      if (this.caughtUp) this.finish()
      if (this.finished) return DONE
      try {
        const wait = this.step()
        if (wait !== undefined) await wait
      } catch (err) {
        return this.stepFailed(err)
      }
    }
  }

  /**
   * The next events as one array: everything in hand that is in order (the backend's batch
   * itself when it can be handed over whole, so N followers share one array). For readers
   * that write in bulk (an SSE connection); `batches()` iterates with it. Do not mix with
   * `next()` concurrently.
   *
   * @example
   * ```ts
   * for await (const events of follower.batches()) res.write(events.map(frame).join(''))
   * ```
   */
  nextBatch(): Promise<IteratorResult<readonly RunEvent[], undefined>> {
    // Not an async function: a parked consumer holds the one promise a `then` chain needs.
    try {
      const r = this.take(false)
      if (r === null) return Promise.resolve(DONE)
      if (r instanceof Promise) {
        return r.then(
          () => this.nextBatch(),
          (err: unknown) => this.stepFailed(err),
        )
      }
      return Promise.resolve({ value: r as readonly RunEvent[], done: false })
    } catch (err) {
      // The failure as it was given (a signal's reason may be any value), as `await` throws it.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(err)
    }
  }

  /**
   * @internal `nextBatch()` without promises, for a consumer that is its own live handler
   * (the hub's readers park thousands): the events in hand, `null` once finished,
   * {@link PARKED} (then `live.wake()` says when to pull again), or a promise to wait for
   * before pulling again; a rejection of that promise goes to {@link pullFailed}. Throws the
   * failure once.
   */
  pull(): Pulled {
    return this.take(true)
  }

  /** @internal The promise `pull()` returned rejected: throws the failure once (then nothing). */
  pullFailed(err: unknown): void {
    this.stepFailed(err)
  }

  private take(byWake: boolean): Pulled {
    for (;;) {
      if (this.failure !== undefined) {
        this.throwFailure()
        return null
      }
      const gap = this.gap
      if (gap !== undefined) {
        this.gap = undefined
        return [this.deliver(gap).value as RunEvent]
      }
      const b = this.batch
      if (b !== undefined) {
        while (this.idx < b.length && b[this.idx].seq <= this.last) this.idx++
        if (this.idx < b.length && b[this.idx].seq === this.last + 1) {
          const start = this.idx
          let end = start + 1
          while (end < b.length && b[end].seq === b[end - 1].seq + 1) end++
          const out = start === 0 && end === b.length ? b : b.slice(start, end)
          this.idx = end
          this.advance(out)
          return out
        }
        if (this.idx < b.length) this.holeFound()
        this.batch = undefined
      }
      if (this.caughtUp) this.finish()
      if (this.finished) return null
      const wait = this.step(byWake)
      if (wait === PARKED) return PARKED
      if (wait !== undefined) return wait
    }
  }

  /**
   * Iterates arrays of events (see `nextBatch`); `break` closes the follower.
   *
   * @example
   * ```ts
   * for await (const events of rb.runs.follow(id).batches()) console.log(events.length)
   * ```
   */
  batches(): AsyncIterableIterator<readonly RunEvent[], undefined> {
    const it: AsyncIterableIterator<readonly RunEvent[], undefined> = {
      next: () => this.nextBatch(),
      return: () => {
        this.finish()
        return Promise.resolve(DONE)
      },
      [Symbol.asyncIterator]: () => it,
    }
    return it
  }

  /** One step of the slow path: set up, read a history page, or take a live batch. */
  /**
   * One step of the slow path: set up, read a history page, take a live batch, or park until
   * one comes. Not an async function: taking what is buffered needs no await, and a parked
   * consumer holds one bare promise, not a suspended frame (the hub parks thousands).
   */
  private step(byWake = false): Promise<void> | typeof PARKED | undefined {
    if (!this.initialized) return this.readyP
    if (this.needRead) return this.readPage()
    const items = this.items
    if (items === undefined || this.head >= items.length) {
      // Park; whatever wakes us (an item, the end, a failure) is seen by the caller's loop.
      this.parked = true
      if (byWake) {
        this.wakeLive = true
        return PARKED
      }
      return new Promise<void>((resolve) => (this.wake = resolve))
    }
    const item = items[this.head++]
    if (this.head === items.length) {
      items.length = 0
      this.head = 0
    }
    if (item === REREAD) {
      this.needRead = true
      this.ctx.counters.followerRereads++
    } else {
      this.buffered -= item.length
      this.batch = item
      this.idx = 0
    }
    return undefined
  }

  private stepFailed(err: unknown): IteratorReturnResult<undefined> {
    if (this.failure !== undefined) return this.throwFailure()
    if (this.finished) return DONE
    this.fail(err)
    return this.throwFailure()
  }

  private deliver(e: RunEvent): IteratorResult<RunEvent, undefined> {
    this.last = e.seq
    this.stats.delivered++
    if (e.type === 'end') this.finish()
    return { value: e, done: false }
  }

  private async init(): Promise<void> {
    if (this.waitForRun > 0) await this.untilRunExists()
    if (this.finished || this.failure !== undefined) return
    // 'now' is read BEFORE the feed is attached: on a networked backend (Redis) an append
    // issued right after follow() would otherwise land between the watch and getRun and be
    // dropped as "before now". Reading from `last` after the watch covers everything between.
    let nowSeq: number | undefined
    if (this.start === 'now') {
      const info = await this.ctx.backend.runs.getRun(this.run)
      if (info === undefined) throw new RunNotFoundError(this.run)
      nowSeq = info.status === 'running' ? info.lastSeq : Math.max(0, info.lastSeq - 1)
      this.epoch = info.createdAt
    }
    if (this.finished || this.failure !== undefined) return
    const lease = feedsOf(this.ctx).attach(this.run, this)
    this.lease = lease
    await lease.ready
    if (this.finished || this.failure !== undefined) return
    this.notBefore = lease.feed.nextRead
    if (nowSeq !== undefined) {
      this.last = nowSeq
    } else {
      const start = this.start
      this.last = typeof start === 'number' ? start : 0
    }
    this.initialized = true
    this.needRead = true
  }

  /** `waitForRun`: polls until the run exists; gives up at the bound (the read then fails). */
  private async untilRunExists(): Promise<void> {
    const deadline = Date.now() + this.waitForRun
    let delay = 25
    while (!this.finished && this.failure === undefined) {
      if ((await this.ctx.backend.runs.getRun(this.run)) !== undefined) return
      const left = deadline - Date.now()
      if (left <= 0) throw new RunNotFoundError(this.run)
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer)
          this.signal?.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, Math.min(delay, left))
        this.signal?.addEventListener('abort', done, { once: true })
      })
      delay = Math.min(250, delay * 2)
    }
  }

  private async readPage(): Promise<void> {
    const feed = this.lease!.feed
    const first = this.firstRead
    this.firstRead = false
    // Close to the head: the feed's recent window has what we miss, the rest comes live.
    const recent = feed.recentAfter(this.last)
    if (recent !== undefined) {
      if (!sameEpoch(epochOfId(recent[0].id), this.epoch)) throw new RunResetError(this.run)
      this.stats.shared++
      this.batch = recent
      this.idx = 0
      this.needRead = false
      return
    }
    const limit = this.ctx.pageSize
    this.stats.reads++
    const before = feed.nextRead
    const page = await feed.read(this.last, limit, this.notBefore)
    if (feed.nextRead === before) this.stats.shared++
    if (this.finished || this.failure !== undefined) return
    // Never join two runs: a run of another incarnation (recreated after its TTL, Redis
    // restarted empty and written again) is not the one we follow. Backends report the
    // incarnation as `page.epoch`; a vanished run fails the read with RunNotFoundError.
    if (page.epoch !== undefined) {
      if (this.epoch === undefined) this.epoch = page.epoch
      else if (!sameEpoch(page.epoch, this.epoch)) throw new RunResetError(this.run)
    }
    if (first && this.start === 'start' && !this.gapAtStart && this.last + 1 < page.firstSeq) {
      this.last = page.firstSeq - 1
    }
    if (this.last + 1 < page.firstSeq) {
      const to = page.firstSeq - 1
      const tag = epochTagOf(page.epoch)
      const gap: RunEvent<GapData> = {
        id: eventIdOf(to, tag),
        run: this.run,
        seq: to,
        type: 'gap',
        data: { from: eventIdOf(this.last + 1, tag), to: eventIdOf(to, tag) },
        ts: Date.now(),
      }
      this.stats.gaps++
      this.ctx.counters.gaps++
      this.gap = gap
    }
    this.batch = page.events
    this.idx = 0
    // A full page may have more behind it; a short one reached the log's end at read time
    // (later appends are in the live buffer).
    this.needRead = page.events.length >= limit
    // Resumed at or past the end of an ended run: nothing more will come.
    if (page.ended && page.events.length === 0 && this.last >= page.lastSeq) this.caughtUp = true
  }

  /**
   * @internal The feed's hook: new live events (the backend's array, shared by every cursor).
   * A consumer parked with nothing in hand and a `live` handler gets them here, at once
   * (see `setLive`); otherwise they join this cursor's bounded buffer.
   */
  onEvents(events: readonly RunEvent[]): void {
    if (this.finished || this.failure !== undefined || events.length === 0) return
    if (this.live !== undefined && this.parked && this.buffered === 0 && this.offerLive(events))
      return
    if (this.buffered > 0 && this.buffered + events.length > this.bufferSize) {
      // The reader is behind: drop what we hold and let the log serve it later.
      this.items = undefined
      this.head = 0
      this.buffered = 0
      this.stats.overflows++
      this.ctx.counters.followerOverflows++
      this.notBefore = this.lease?.feed.nextRead ?? 0
      this.enqueue(REREAD)
      return
    }
    this.buffered += events.length
    this.enqueue(events)
  }

  /**
   * Queues `item` for the consumer and wakes it. What is queued is on its way to the consumer:
   * no direct hand-over until it has taken it and parked again (that keeps the order).
   */
  private enqueue(item: Item): void {
    ;(this.items ??= []).push(item)
    this.wakeUp()
  }

  private wakeUp(): void {
    this.parked = false
    const w = this.wake
    if (w !== undefined) {
      this.wake = undefined
      w()
    } else if (this.wakeLive) {
      this.wakeLive = false
      this.live?.wake()
    }
  }

  /** @internal The signal's abort (the follower is its own listener: no closure to hold). */
  handleEvent(): void {
    this.fail(this.signal?.reason)
  }

  /** @internal `rb.close()`: ends the follower with `reason`. */
  closeWith(reason: Error): void {
    this.fail(reason)
  }

  /** @internal The feed's hook: it may have missed events, re-read the log. */
  onGap(): void {
    this.reread()
  }

  /** @internal The feed's hook: its watch failed for good. */
  onError(err: unknown): void {
    this.fail(err)
  }

  /**
   * The synchronous live path: hands `events` to the `live` handler when they continue this
   * cursor's position exactly, in one contiguous run, and the handler takes them. Anything
   * else (a duplicate prefix is skipped; a hole, a break in the run, a handler that says
   * no) goes the usual way, through the buffer and `nextBatch`, which repairs holes from the
   * log. Only called while the consumer is parked with nothing in hand: the events handed
   * over are then next in line, and the cursor's counters move exactly as `nextBatch` would.
   */
  private offerLive(events: readonly RunEvent[]): boolean {
    const b = this.batch
    if (
      !this.initialized ||
      this.needRead ||
      this.caughtUp ||
      this.gap !== undefined ||
      (b !== undefined && this.idx < b.length)
    )
      return false
    let start = 0
    while (start < events.length && events[start].seq <= this.last) start++
    if (start === events.length) return true // all seen already
    if (events[start].seq !== this.last + 1) return false
    for (let i = start + 1; i < events.length; i++) {
      if (events[i].seq !== events[i - 1].seq + 1) return false
    }
    const out = start === 0 ? events : events.slice(start)
    if (!this.live!.offer(out)) return false
    this.advance(out)
    return true
  }

  /** `out` (contiguous, continuing the position) was handed to the consumer: move past it. */
  private advance(out: readonly RunEvent[]): void {
    const lastEvent = out[out.length - 1]
    this.last = lastEvent.seq
    this.stats.delivered += out.length
    if (lastEvent.type === 'end') this.finish()
  }

  /**
   * @internal The hub's synchronous live path. While the consumer waits in `nextBatch()`
   * with nothing in hand, new live events that continue its position are given to
   * `handler` at once, in the feed's delivery (no buffer, no wake-up, the feed's own array,
   * so every reader of a run sees the same array); `handler` returns `false` to refuse
   * (its socket is full), and the events then wait for `nextBatch()` as usual. The
   * pending `nextBatch()` stays pending through it: it resolves with later events, or
   * `done` once the `end` was handed over. `undefined` turns it off.
   */
  setLive(handler: LiveHandler | undefined): void {
    this.live = handler
  }

  /** What we hold skips events: re-read the log, with a read started from now on. */
  private holeFound(): void {
    this.needRead = true
    this.notBefore = this.lease?.feed.nextRead ?? 0
  }

  private reread(): void {
    if (this.finished || this.failure !== undefined) return
    this.notBefore = this.lease?.feed.nextRead ?? 0
    this.enqueue(REREAD)
  }

  private throwFailure(): IteratorReturnResult<undefined> {
    if (this.failureThrown) return DONE
    this.failureThrown = true
    throw this.failure
  }

  private fail(reason: unknown): void {
    if (this.finished || this.failure !== undefined) return
    this.failure = reason ?? new Error('follower failed')
    this.release()
    this.wakeUp()
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    this.release()
    this.wakeUp()
  }

  private release(): void {
    this.batch = undefined
    this.items = undefined
    this.head = 0
    this.buffered = 0
    this.lease?.release()
    this.ctx.live.follower.delete(this.tracked)
    this.signal?.removeEventListener('abort', this)
    this.resolveClosed?.()
  }
}
