/**
 * The hub's SSE/NDJSON readers of runs: each connection is one cursor of the follow engine
 * (`rb.runs.follow`, `src/streams/follow.ts`), written into the connection's sink.
 *
 * Why no fan-out of its own: the engine already keeps ONE backend watch per run per
 * process, shares history reads and a window of recent events between every cursor of a
 * run (hub readers, in-process followers and ask waits alike), and hands every cursor the
 * same event objects; `frameOf` serializes each object once per format, so 10,000 readers
 * of one run cost one watch and one serialization per event. What this file adds is the
 * wire: frames, pacing by the socket, the keep-alive and the slow-reader cut (`./stall.ts`).
 *
 * A caught-up reader is written synchronously, from the feed's delivery (`Follower.setLive`):
 * one buffer per live batch and format (`framesOf`), the same bytes for every reader of the
 * run, no wake-up per reader. A reader that is behind or whose socket is past its high mark
 * goes through its cursor (`nextBatch`), as before.
 *
 * Per reader:
 * - positions come from the engine (history, then live, no duplicate at the seam, a `gap`
 *   frame for history that is gone, a run that was reset or created again is an error);
 * - writes are paced by the socket: past half of `maxQueuedBytes` unread, the reader waits
 *   for the peer to drain before taking more from its cursor (the cursor falls back to the
 *   log when its live buffer overflows, so the hub holds nothing extra for a slow reader);
 * - a reader that took nothing for a whole keep-alive period while it had bytes waiting is
 *   cut (counted): it resumes from its last id;
 * - after the `end` frame the stream closes cleanly; a reader that resumes after the end
 *   gets the `end` frame again, so an `EventSource` stops instead of reconnecting;
 * - the run failing under the reader (reset, vanished, backend down) ends the stream with
 *   an `error` frame carrying the typed error, never silence.
 *
 * The readers are followers of the runbus instance: they count in `rb.stats().followers`
 * and `rb.close()` ends them.
 */
import type { RunEvent } from '../events/envelope.js'
import { epochTagOfId, eventIdOf } from '../events/envelope.js'
import { RunbusError } from '../events/errors.js'
import { errorFrame, frameOf, framesOf, pingOf, type StreamFormat } from '../protocol/framing.js'
import type { Runbus } from '../runbus.js'
import { PARKED, type Follower, type LiveHandler } from '../streams/follow.js'
import type { StreamSink } from './sink.js'
import { StallWatch } from './stall.js'

/** Where a reader starts. */
export interface ReaderStart {
  /**
   * After this event id (as the reader gave it: it names the run's incarnation), from the
   * `'start'` of what is retained, or only what comes from `'now'`.
   */
  after: string
  /** Whether the position was asked for (trimmed history is then announced as a gap). */
  explicit: boolean
}

/** Counters of the run readers of one hub. */
export interface RunReaderStats {
  /** Frames written to readers (events, gaps, ends, errors). */
  framesOut: number
  /** Readers cut for not taking what was written to them for a keep-alive period. */
  cuts: number
  /** Readers whose stream ended with an error frame (run reset or vanished, backend down). */
  failed: number
}

/** The live buffer of a hub reader's cursor (events; past it the cursor re-reads the log). */
const READER_BUFFER = 1024

/** Every run reader of one hub. */
export class RunReaders {
  readonly stats: RunReaderStats = { framesOut: 0, cuts: 0, failed: 0 }
  readonly #byRun = new Map<string, Set<RunReader>>()
  readonly #rb: Runbus
  readonly #maxQueuedBytes: number
  #closed = false

  constructor(rb: Runbus, maxQueuedBytes: number) {
    this.#rb = rb
    this.#maxQueuedBytes = maxQueuedBytes
  }

  /** Readers following `run` on this hub. */
  readers(run: string): number {
    return this.#byRun.get(run)?.size ?? 0
  }

  /** Readers following any run on this hub. */
  get total(): number {
    let n = 0
    for (const set of this.#byRun.values()) n += set.size
    return n
  }

  /** Runs followed by at least one reader of this hub. */
  get runs(): number {
    return this.#byRun.size
  }

  /**
   * A cursor on `run` from `start`, with its position fixed (`ready` awaited), so that what
   * is appended once the response has started is delivered. Rejects like `follower.ready`
   * (`RunNotFoundError`, `ClosedError`); `signal` is the request's.
   */
  async open(run: string, start: ReaderStart, signal: AbortSignal): Promise<Follower> {
    // The request's signal guards the start only: once attached, the sink's close ends the
    // cursor, so the cursor holds no listener on the signal for the life of the connection.
    const f = this.#rb.runs.follow(run, {
      after: start.after,
      gapAtStart: start.explicit,
      bufferSize: READER_BUFFER,
    })
    const onAbort = (): void => f.close()
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await f.ready
    } catch (err) {
      f.close()
      throw err
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
    if (signal.aborted) throw signal.reason
    return f
  }

  /** Streams the cursor into `sink` until the run ends, the peer leaves or the hub closes. */
  attach(follower: Follower, sink: StreamSink, format: StreamFormat, start: ReaderStart): void {
    if (this.#closed) {
      follower.close()
      sink.abort()
      return
    }
    const reader = new RunReader(this, follower, sink, format, start)
    let set = this.#byRun.get(follower.run)
    if (set === undefined) this.#byRun.set(follower.run, (set = new Set()))
    set.add(reader)
    sink.onClose(() => {
      follower.close()
      const s = this.#byRun.get(follower.run)
      s?.delete(reader)
      if (s?.size === 0) this.#byRun.delete(follower.run)
    })
    follower.setLive(reader)
    reader.pump()
  }

  /** @internal */
  get maxQueuedBytes(): number {
    return this.#maxQueuedBytes
  }

  /** @internal */
  get runbus(): Runbus {
    return this.#rb
  }

  /** The keep-alive tick: a ping to every reader, and the cut of those that stalled. */
  ping(): void {
    for (const set of this.#byRun.values()) for (const r of [...set]) r.tick()
  }

  /** Ends every reader's stream (their cursors close). */
  close(): void {
    this.#closed = true
    for (const set of [...this.#byRun.values()]) for (const r of [...set]) r.abort()
    this.#byRun.clear()
  }
}

/** The incarnation tag of a reader's start position (`''` when it named none). */
function tagOfStart(start: ReaderStart): string {
  return start.after === 'start' || start.after === 'now' ? '' : epochTagOfId(start.after)
}

class RunReader implements LiveHandler {
  /** The slow-reader cut (held back through a keep-alive period); no hard limit: paced. */
  readonly #stall: StallWatch
  #wrote = false

  constructor(
    readonly owner: RunReaders,
    readonly follower: Follower,
    readonly sink: StreamSink,
    readonly format: StreamFormat,
    readonly start: ReaderStart,
  ) {
    this.#stall = new StallWatch(sink, owner.stats)
  }

  /**
   * The synchronous live path: while the pump waits in `nextBatch()` with nothing in hand, the
   * feed's delivery writes new events here at once (the same bytes for every reader of the
   * batch), unless the socket is past its high mark: then they wait in the cursor, and the
   * pump takes them once the peer drained.
   */
  offer(events: readonly RunEvent[]): boolean {
    const sink = this.sink
    if (sink.closed || sink.queuedBytes > this.owner.maxQueuedBytes / 2) return false
    this.#write(events)
    return true
  }

  /**
   * Moves what the cursor has into the socket until it has nothing in hand. Not an async
   * function, and no promise while parked: a caught-up reader (most of them, for the life of
   * the connection) holds no suspended frame and no promise chain; the cursor calls `wake()`
   * when there is more. Promises exist only while a history read or a drain is awaited.
   */
  pump(): void {
    const { sink, follower } = this
    const high = this.owner.maxQueuedBytes / 2
    try {
      for (;;) {
        if (sink.closed) return
        if (sink.queuedBytes > high) {
          this.#stall.hold()
          sink.waitDrain().then(
            () => {
              this.#stall.resume()
              this.pump()
            },
            (err: unknown) => this.#fail(err),
          )
          return
        }
        const r = follower.pull()
        if (r === PARKED) return
        if (r === null) {
          this.#finished()
          return
        }
        if (r instanceof Promise) {
          r.then(
            () => this.pump(),
            (err: unknown) => this.#pumpAfterFailure(err),
          )
          return
        }
        this.#write(r)
      }
    } catch (err) {
      this.#fail(err)
    }
  }

  /** A history read failed: the cursor takes the failure (and may throw it), then pull on. */
  #pumpAfterFailure(err: unknown): void {
    try {
      this.follower.pullFailed(err)
    } catch (e) {
      this.#fail(e)
      return
    }
    this.pump()
  }

  /** The cursor has more for `pull()` (called from inside its delivery: pull later). */
  wake(): void {
    queueMicrotask(() => this.pump())
  }

  /**
   * Finished without an `end` frame written: the reader resumed at or after the end of an
   * ended run. Say the end again so the client stops instead of reconnecting.
   */
  #finished(): void {
    if (this.#wrote || this.sink.closed) {
      this.sink.end()
      return
    }
    this.#repeatEnd().then(
      () => this.sink.end(),
      (err: unknown) => this.#fail(err),
    )
  }

  #fail(err: unknown): void {
    const { sink, owner } = this
    if (sink.closed) return
    owner.stats.failed++
    const wire =
      err instanceof RunbusError
        ? err
        : new RunbusError('internal', 'the stream failed on the hub', { cause: err })
    sink.write(errorFrame(this.follower.run, wire, this.format))
    owner.stats.framesOut++
    sink.end()
  }

  #write(events: readonly RunEvent[]): void {
    this.sink.write(framesOf(events, this.format))
    this.owner.stats.framesOut += events.length
    this.#wrote = true
  }

  async #repeatEnd(): Promise<void> {
    const last = this.follower.position
    if (last < 1) return
    const page = await this.owner.runbus.runs.read(this.follower.run, {
      after: last > 1 ? eventIdOf(last - 1, tagOfStart(this.start)) : 'start',
      limit: 1,
    })
    const end = page.events.find((e) => e.type === 'end')
    if (end !== undefined && !this.sink.closed) this.sink.write(frameOf(end, this.format))
  }

  tick(): void {
    this.#stall.tick(pingOf(this.format))
  }

  abort(): void {
    this.follower.close()
    this.sink.abort()
  }
}
