/**
 * One shared follower per run per hub process, fanning out to every SSE/NDJSON reader of
 * that run.
 *
 * Why: 10,000 browser tabs following one run must not cost 10,000 backend follows (on Redis
 * that is 10,000 blocking reads). Each run gets one `RunFeed` that watches the backend log
 * once; each envelope is serialized once per format and the same bytes go to every reader.
 *
 * Each reader first catches up on its own (replay from its `Last-Event-ID` with paged reads,
 * paced by its socket), then joins the live fan-out. Invariants, kept by seq:
 * - a reader never gets a seq twice (it drops live events at or below its `lastSeq`);
 * - a reader never skips a seq silently: a live event past `lastSeq + 1` sends it back to
 *   catching up from the log; history that is gone is announced with one `gap` frame;
 * - while catching up, live events are parked (bounded) and spliced in at the seam.
 * - a live reader whose socket holds more than `maxQueuedBytes` is cut (it resumes from its
 *   last id); the hub never buffers for it.
 */
import type { LogPage, RunLogStore, Unsubscribe } from '../contract/contract.js'
import type { RunEvent } from '../events/envelope.js'
import { frameOf, gapFrame, pingOf, type StreamFormat } from '../protocol/framing.js'
import type { StreamSink } from './sink.js'

/** Counters the fan-out reports to metrics. */
export interface FanoutStats {
  /** Frames written to readers (events, gaps, ends). */
  framesOut: number
  /** Readers cut for holding more than their limit. */
  cuts: number
}

/** Options of the fan-out. */
export interface FanoutOptions {
  /** Events read per page while a reader catches up. */
  pageSize?: number
  /** Bytes a live reader may hold unread before it is cut. */
  maxQueuedBytes: number
  /** Events parked per reader while it catches up (beyond that, it re-reads the log). */
  maxParked?: number
  /** How long a feed with no readers keeps watching, for readers that reconnect. */
  lingerMs?: number
  /** Events of recent history a feed keeps, so reconnecting readers skip the backend read. */
  recent?: number
}

/** Where a new reader starts. */
export interface ReaderStart {
  /** Resume after this seq (0 = from the start of what is retained). */
  afterSeq: number
  /** Whether the position was asked for (so trimmed history is announced as a gap). */
  explicit: boolean
}

/**
 * Every run feed of one hub. `attach` a reader's sink to a run; the feed starts on the
 * first reader and stops after the last one left (plus a linger).
 */
export class RunFanout {
  readonly stats: FanoutStats = { framesOut: 0, cuts: 0 }
  readonly #feeds = new Map<string, RunFeed>()
  readonly #runs: RunLogStore
  readonly opts: Required<FanoutOptions>
  #closed = false

  constructor(runs: RunLogStore, options: FanoutOptions) {
    this.#runs = runs
    this.opts = {
      pageSize: options.pageSize ?? 500,
      maxQueuedBytes: options.maxQueuedBytes,
      maxParked: options.maxParked ?? 1024,
      lingerMs: options.lingerMs ?? 2000,
      recent: options.recent ?? 256,
    }
  }

  /** The log store the feeds read. */
  get runs(): RunLogStore {
    return this.#runs
  }

  /** Readers following `run` on this hub process. */
  readers(run: string): number {
    return this.#feeds.get(run)?.readers.size ?? 0
  }

  /** Readers following any run on this hub process. */
  get totalReaders(): number {
    let n = 0
    for (const f of this.#feeds.values()) n += f.readers.size
    return n
  }

  /** Runs with a live feed. */
  get feeds(): number {
    return this.#feeds.size
  }

  /**
   * Streams `run` into `sink` from `start` until the run ends (then the `end` frame and a
   * clean close), the peer leaves, or the reader is cut. Resolves once the reader is
   * attached; the stream goes on after that.
   */
  async attach(
    run: string,
    sink: StreamSink,
    format: StreamFormat,
    start: ReaderStart,
  ): Promise<void> {
    if (this.#closed) {
      sink.abort()
      return
    }
    let feed = this.#feeds.get(run)
    if (!feed) {
      feed = new RunFeed(this, run)
      this.#feeds.set(run, feed)
    }
    const reader = new Reader(feed, sink, format, start)
    feed.add(reader)
    sink.onClose(() => feed.remove(reader))
    try {
      await feed.ready
    } catch {
      sink.abort()
      return
    }
    if (!reader.closed) reader.startCatchUp()
  }

  /** Writes `ping` to every reader (the hub's 15 s keep-alive), cutting those that are full. */
  ping(): void {
    for (const feed of this.#feeds.values()) {
      for (const r of feed.readers) r.ping()
    }
  }

  /** @internal A feed with no readers left is dropped. */
  drop(feed: RunFeed): void {
    if (this.#feeds.get(feed.run) === feed) this.#feeds.delete(feed.run)
  }

  /** Ends every feed and aborts every reader. */
  close(): void {
    this.#closed = true
    for (const feed of [...this.#feeds.values()]) feed.shutdown()
    this.#feeds.clear()
  }
}

class RunFeed {
  readonly readers = new Set<Reader>()
  readonly ready: Promise<void>
  /** The highest seq the watch delivered. */
  lastSeq = 0
  /** Recent live events, contiguous, ending at `lastSeq`. */
  recent: RunEvent[] = []
  #unwatch: Unsubscribe | undefined
  #linger: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor(
    readonly fanout: RunFanout,
    readonly run: string,
  ) {
    this.ready = this.fanout.runs
      .watch(run, {
        onEvents: (events) => this.deliver(events),
        onGap: (afterSeq) => void this.refill(afterSeq),
      })
      .then((unwatch) => {
        if (this.#stopped) unwatch()
        else this.#unwatch = unwatch
      })
    this.ready.catch(() => {
      // the readers waiting on `ready` handle it; the feed goes
      this.shutdown()
    })
  }

  add(r: Reader): void {
    if (this.#linger) {
      clearTimeout(this.#linger)
      this.#linger = undefined
    }
    this.readers.add(r)
  }

  remove(r: Reader): void {
    this.readers.delete(r)
    if (this.readers.size === 0 && !this.#stopped && !this.#linger) {
      this.#linger = setTimeout(() => {
        this.#linger = undefined
        if (this.readers.size === 0) this.shutdown()
      }, this.fanout.opts.lingerMs)
      this.#linger.unref?.()
    }
  }

  deliver(events: RunEvent[]): void {
    const keep = this.fanout.opts.recent
    for (const ev of events) {
      if (ev.seq <= this.lastSeq) continue
      if (ev.seq !== this.lastSeq + 1) this.recent = []
      this.lastSeq = ev.seq
      this.recent.push(ev)
      if (this.recent.length > keep * 2) this.recent = this.recent.slice(-keep)
      for (const r of this.readers) r.offerLive(ev)
    }
  }

  /** Events after `afterSeq` that the feed holds contiguously up to its head, or undefined. */
  recentAfter(afterSeq: number): RunEvent[] | undefined {
    const first = this.recent[0]
    if (!first || afterSeq + 1 < first.seq || afterSeq > this.lastSeq) return undefined
    return this.recent.slice(afterSeq + 1 - first.seq)
  }

  /** In-flight history reads, by position: readers catching up from one point share one read. */
  readonly #reads = new Map<number, { id: number; page: Promise<LogPage> }>()
  #readIds = 0

  /** The id the next history read will get (reads are numbered as they start). */
  get nextRead(): number {
    return this.#readIds
  }

  /**
   * Reads a page of history after `afterSeq`, joining a read of the same page already in
   * flight if it started at or after `notBefore` (so it started after the caller began
   * parking live events: what it misses, the caller has parked). Shared reads hand out the
   * same envelope objects, so they are serialized once: a reconnect storm (every reader of a
   * run resuming from about the same id after a hub restart) costs a few backend reads, not
   * one per reader.
   */
  readPage(afterSeq: number, notBefore: number): Promise<LogPage> {
    const cur = this.#reads.get(afterSeq)
    if (cur && cur.id >= notBefore) return cur.page
    const entry = {
      id: this.#readIds++,
      page: this.fanout.runs.read(this.run, afterSeq, this.fanout.opts.pageSize),
    }
    this.#reads.set(afterSeq, entry)
    const drop = (): void => {
      if (this.#reads.get(afterSeq) === entry) this.#reads.delete(afterSeq)
    }
    entry.page.then(drop, drop)
    return entry.page
  }

  async refill(afterSeq: number): Promise<void> {
    let after = afterSeq
    const size = this.fanout.opts.pageSize
    try {
      for (;;) {
        const page = await this.fanout.runs.read(this.run, after, size)
        if (this.#stopped) return
        this.deliver(page.events)
        const last = page.events.at(-1)
        if (!last || page.events.length < size) return
        after = last.seq
      }
    } catch {
      // readers detect the hole on the next event and re-read on their own
    }
  }

  shutdown(): void {
    if (this.#stopped) return
    this.#stopped = true
    if (this.#linger) clearTimeout(this.#linger)
    this.#unwatch?.()
    this.#unwatch = undefined
    for (const r of [...this.readers]) r.abort()
    this.readers.clear()
    this.fanout.drop(this)
  }
}

class Reader {
  lastSeq: number
  #state: 'new' | 'catching' | 'live' | 'closed' = 'new'
  #parked: RunEvent[] = []
  #overflowed = false
  #explicit: boolean
  #first = true
  /** Shared history reads this reader may join: only those started after it registered. */
  #notBefore: number

  constructor(
    readonly feed: RunFeed,
    readonly sink: StreamSink,
    readonly format: StreamFormat,
    start: ReaderStart,
  ) {
    this.lastSeq = start.afterSeq
    this.#explicit = start.explicit
    this.#notBefore = feed.nextRead
    sink.onClose(() => {
      this.#state = 'closed'
    })
  }

  get closed(): boolean {
    return this.#state === 'closed'
  }

  get #fanout(): RunFanout {
    return this.feed.fanout
  }

  startCatchUp(): void {
    // Fast path: a reader resuming within the feed's recent history needs no backend read
    // (a reconnect storm after a network blip costs no backend work).
    const recent = this.feed.recentAfter(this.lastSeq)
    if (recent) {
      this.#first = false
      const parked = this.#parked
      this.#parked = []
      for (const ev of [...recent, ...parked]) {
        if (ev.seq <= this.lastSeq) continue
        if (ev.seq !== this.lastSeq + 1) break
        this.#write(ev)
        if (this.closed) return
      }
      this.#state = 'live'
      this.#checkFull()
      return
    }
    void this.#catchUp()
  }

  offerLive(ev: RunEvent): void {
    switch (this.#state) {
      case 'closed':
        return
      case 'new':
      case 'catching':
        if (this.#parked.length < this.#fanout.opts.maxParked) this.#parked.push(ev)
        else this.#overflowed = true
        return
      case 'live':
        if (ev.seq <= this.lastSeq) return
        if (ev.seq !== this.lastSeq + 1) {
          // a hole: go back to the log for what is missing
          this.#parked = [ev]
          void this.#catchUp()
          return
        }
        this.#write(ev)
        this.#checkFull()
    }
  }

  ping(): void {
    if (this.closed) return
    this.sink.write(pingOf(this.format))
    if (this.#state === 'live') this.#checkFull()
  }

  abort(): void {
    if (this.closed) return
    this.#state = 'closed'
    this.sink.abort()
  }

  #checkFull(): void {
    if (this.closed) return
    if (this.sink.queuedBytes > this.#fanout.opts.maxQueuedBytes) {
      this.#fanout.stats.cuts++
      this.abort()
    }
  }

  #write(ev: RunEvent): void {
    this.sink.write(frameOf(ev, this.format))
    this.lastSeq = ev.seq
    this.#fanout.stats.framesOut++
    if (ev.type === 'end') {
      this.#state = 'closed'
      this.sink.end()
    }
  }

  #gap(fromSeq: number, toSeq: number): void {
    this.sink.write(gapFrame(this.feed.run, fromSeq, toSeq, this.format))
    this.#fanout.stats.framesOut++
  }

  async #catchUp(): Promise<void> {
    if (this.#state === 'catching' || this.closed) return
    this.#state = 'catching'
    const { pageSize, maxQueuedBytes } = this.#fanout.opts
    const runs = this.#fanout.runs
    try {
      for (;;) {
        if (this.sink.queuedBytes > maxQueuedBytes / 2) await this.sink.waitDrain()
        if (this.closed) return
        const page = await this.feed.readPage(this.lastSeq, this.#notBefore)
        if (this.closed) return
        if (page.firstSeq > this.lastSeq + 1) {
          // From the start (no position asked): begin with what is retained, quietly.
          if (this.#explicit || !this.#first) this.#gap(this.lastSeq + 1, page.firstSeq - 1)
          this.lastSeq = page.firstSeq - 1
        }
        this.#first = false
        for (const ev of page.events) {
          if (ev.seq <= this.lastSeq) continue
          if (ev.seq !== this.lastSeq + 1) {
            this.#gap(this.lastSeq + 1, ev.seq - 1)
          }
          this.#write(ev)
          if (this.closed) return
        }
        if (page.events.length >= pageSize) continue
        // Caught up with the log as of this read: splice in what was parked meanwhile.
        const parked = this.#parked
        this.#parked = []
        let contiguous = true
        for (const ev of parked) {
          if (ev.seq <= this.lastSeq) continue
          if (ev.seq !== this.lastSeq + 1) {
            contiguous = false
            break
          }
          this.#write(ev)
          if (this.closed) return
        }
        if (!contiguous || this.#overflowed) {
          this.#overflowed = false
          continue
        }
        if (page.ended && this.lastSeq >= page.lastSeq) {
          // The reader already had the end (it resumed after it): say it again so the
          // client stops instead of reconnecting, then close.
          const tail = await runs.read(this.feed.run, page.lastSeq - 1, 1)
          const end = tail.events.find((e) => e.type === 'end')
          if (end && !this.closed) this.sink.write(frameOf(end, this.format))
          this.#state = 'closed'
          this.sink.end()
          return
        }
        this.#state = 'live'
        this.#checkFull()
        return
      }
    } catch {
      // the run vanished (expired) or the backend failed: the reader reconnects and learns why
      this.abort()
    }
  }
}
