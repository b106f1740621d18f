/**
 * The slow-reader cut, written once for every streaming connection of the hub (run readers in
 * `run-readers.ts`, bus streams in `bus-fanout.ts`).
 *
 * A connection is cut — aborted, counted once in its owner's `cuts`, its client resumes from
 * its last id (run readers) or subscribes again (bus) — when either:
 * - it was held back by its socket through a whole keep-alive period: a paced reader that
 *   waited for its peer at one tick and still waits at the next took nothing for a period;
 * - it holds more than its hard limit unread after a write that could not wait (a bus
 *   message has no log to fall back to, so the hub would otherwise buffer it without bound).
 *   Run readers have no hard limit: they are paced instead, and the log holds what they miss.
 *
 * Invariant: a connection is cut at most once, and only here.
 */
import type { StreamSink } from './sink.js'

/** Where cuts are counted (a hub part's stats). */
export interface CutCounter {
  cuts: number
}

/**
 * Watches one streaming connection for the slow-reader cut.
 *
 * Use: `hold()` / `resume()` around a wait for the peer to drain (paced readers),
 * `overLimit()` after a write that could not wait, `tick(ping)` on every keep-alive tick.
 *
 * @example
 * ```ts
 * const stall = new StallWatch(sink, stats, maxQueuedBytes)
 * sink.write(frame)
 * if (stall.overLimit()) return
 * ```
 */
export class StallWatch {
  readonly #sink: StreamSink
  readonly #counter: CutCounter
  readonly #hardLimit: number
  /** Waiting for the peer now. */
  #held = false
  /** Waiting for the peer since (at least) the last tick. */
  #heldAtTick = false

  /** `hardLimit`: bytes unread past which a write that could not wait cuts (default: none). */
  constructor(sink: StreamSink, counter: CutCounter, hardLimit = Infinity) {
    this.#sink = sink
    this.#counter = counter
    this.#hardLimit = hardLimit
  }

  /** The reader starts waiting for its peer to drain. */
  hold(): void {
    this.#held = true
  }

  /** The peer drained: the reader goes on (the stall clock starts again). */
  resume(): void {
    this.#held = false
    this.#heldAtTick = false
  }

  /** Cuts the connection when it holds more than its hard limit; says whether it did. */
  overLimit(): boolean {
    if (this.#sink.closed || this.#sink.queuedBytes <= this.#hardLimit) return false
    this.#cut()
    return true
  }

  /**
   * The keep-alive tick: cuts a reader held back since the last tick; otherwise writes `ping`
   * unless the reader is held (its socket is full: a ping would only add to it), then checks
   * the hard limit. Says whether the connection was cut.
   */
  tick(ping: Uint8Array): boolean {
    if (this.#sink.closed) return false
    if (this.#held) {
      if (this.#heldAtTick) {
        this.#cut()
        return true
      }
      this.#heldAtTick = true
      return false
    }
    this.#sink.write(ping)
    return this.overLimit()
  }

  #cut(): void {
    this.#counter.cuts++
    this.#sink.abort()
  }
}
