/**
 * A run's inbox as the agent sees it: every message sent to the run (from this process or
 * another), in order, exactly once, and the `interrupt` message turned into an abort of
 * `run.signal`.
 *
 * Same seam rule as following a run: watch first, then read from the last seq seen, deliver
 * only `seq === last + 1`, re-read on a hole. Buffered messages are bounded (10,000,
 * oldest dropped first and counted): an agent that never reads its inbox still gets its
 * interrupts, because the abort happens on arrival, not on read.
 */
import type { Unsubscribe } from '../contract/contract.js'
import type { Context } from '../context.js'
import type { InboxMessage } from '../events/envelope.js'
import { InterruptedError } from '../events/errors.js'
import { AsyncQueue, type QueueIterator } from '../queue/index.js'
import { backoffDelay } from '../events/jitter.js'

const INBOX_BUFFER = 10_000
const PAGE = 500
/** Back-off of a failed read: full jitter from 50 ms, capped at 5 s. */
const RETRY_FIRST_MS = 50
const RETRY_MAX_MS = 5_000

/** Internal: the inbox side of a run handle. */
export class InboxReader {
  readonly queue = new AsyncQueue<InboxMessage>({ capacity: INBOX_BUFFER, policy: 'drop-oldest' })
  readonly controller = new AbortController()
  private last = 0
  /** Messages trimmed by the backend before this reader got them (skipped, counted). */
  skipped = 0
  private unwatch: Unsubscribe | undefined
  private reading: Promise<void> | undefined
  private again = false
  private ended = false
  private untrack: (() => void) | undefined
  /** Failed reads in a row (the back-off step), and the timer of the next try. */
  private failures = 0
  private retry: ReturnType<typeof setTimeout> | undefined
  /** Resolves once the watch is in place and history was read. */
  readonly ready: Promise<void>

  /** @internal Made by the run handle. */
  constructor(
    private readonly ctx: Context,
    private readonly run: string,
  ) {
    this.untrack = ctx.track('inbox', { close: (reason) => this.stop(reason) })
    this.ready = this.start()
  }

  /** The agent's iterator over messages. */
  iterator(): QueueIterator<InboxMessage> {
    return this.queue[Symbol.asyncIterator]()
  }

  private async start(): Promise<void> {
    const unwatch = await this.ctx.backend.runs.watchInbox(this.run, {
      onMessages: (messages) => this.take(messages),
    })
    if (this.ended) {
      unwatch()
      return
    }
    this.unwatch = unwatch
    try {
      await this.readFrom()
    } catch {
      this.scheduleRetry()
    }
  }

  private take(messages: InboxMessage[]): void {
    for (const m of messages) {
      if (this.ended || m.seq <= this.last) continue
      if (m.seq > this.last + 1) {
        this.catchUp()
        return
      }
      this.accept(m)
    }
  }

  private accept(m: InboxMessage): void {
    this.last = m.seq
    if (m.type === 'interrupt' && !this.controller.signal.aborted) {
      this.controller.abort(new InterruptedError(this.run, m.data))
    }
    this.queue.push(m)
  }

  private catchUp(): void {
    if (this.reading !== undefined) {
      this.again = true
      return
    }
    this.reading = this.readFrom()
      .then(
        () => {
          this.failures = 0
        },
        () => this.scheduleRetry(),
      )
      .finally(() => {
        this.reading = undefined
        if (this.again && !this.ended) {
          this.again = false
          this.catchUp()
        }
      })
  }

  /**
   * A read failed (the backend was away): try again after a full-jitter back-off, counted
   * in `rb.stats().inboxReadRetries`. The inbox never stops because of a failed read: a
   * later `interrupt` must still abort `run.signal`.
   */
  private scheduleRetry(): void {
    if (this.ended || this.retry !== undefined) return
    this.ctx.counters.inboxReadRetries++
    this.failures++
    const wait = backoffDelay(this.failures, { initialMs: RETRY_FIRST_MS, maxMs: RETRY_MAX_MS })
    this.retry = setTimeout(() => {
      this.retry = undefined
      if (!this.ended) this.catchUp()
    }, wait)
    this.retry.unref?.()
  }

  private async readFrom(): Promise<void> {
    for (;;) {
      const page = await this.ctx.backend.runs.readInbox(this.run, this.last, PAGE)
      if (this.ended) return
      const first = page[0]
      if (first !== undefined && first.seq > this.last + 1) {
        // Trimmed by the backend's maxInboxMessages before we read them: skip, counted.
        this.skipped += first.seq - this.last - 1
        this.last = first.seq - 1
      }
      for (const m of page) if (m.seq === this.last + 1) this.accept(m)
      if (page.length < PAGE) return
    }
  }

  /** Stops watching. With a reason, the agent's loop throws it; without, it finishes. */
  stop(reason?: unknown): void {
    if (this.ended) return
    this.ended = true
    if (this.retry !== undefined) clearTimeout(this.retry)
    this.retry = undefined
    this.unwatch?.()
    this.unwatch = undefined
    this.untrack?.()
    this.untrack = undefined
    if (reason === undefined) this.queue.close()
    else this.queue.abort(reason)
  }
}
