/**
 * The worker loop of `queue.process(handler)`.
 *
 * It claims up to `concurrency - running` jobs at a time (one batched read), runs their
 * handlers, acknowledges successes in batches, and settles failures (retry after back-off,
 * or dead letters after `maxAttempts`). Expired leases of other consumers are picked up by
 * the store's `claim` on the way.
 *
 * Invariants:
 * - At most `concurrency` handlers run at once.
 * - After `stop()` nothing new is taken. Jobs a read already in flight brings in count as
 *   in hand: a draining stop runs them, an abandoning one gives them back (`release`).
 * - `stop()` resolves only when the loop, its timers and its store consumer are released.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { ClaimedJob, WorkStore } from '../contract/work-contract.js'
import {
  ClosedError,
  InvalidArgumentError,
  LeaseLostError,
  ValidationError,
} from '../events/errors.js'
import { validate, type StandardSchemaV1 } from '../events/schema.js'
import { AckBatcher } from './ack-batcher.js'
import { backoffDelay, type BackoffOptions } from './backoff.js'
import type { Job, JobHandler } from './job.js'

/** Options of `queue.process(handler, options)`. */
export interface ProcessOptions {
  /** Handlers running at once (default 1). */
  concurrency?: number
  /** Aborting it stops the worker gracefully, as `stop({ drain: true })`. */
  signal?: AbortSignal
  /**
   * Jobs to read ahead beyond `concurrency` (default 0), so a handler that finishes starts
   * the next job without waiting for a round trip to the backend. Their leases run while
   * they wait: a read-ahead job that waited half the visibility timeout is given back
   * unstarted. Worth it for many short jobs; leave it at 0 for long ones.
   */
  prefetch?: number
  /** How long one idle read waits for new jobs, in ms (default 1 000). */
  pollInterval?: number
  /** A unique consumer name (default `<host>-<pid>-<random>`). */
  consumer?: string
  /**
   * Told about failures the worker survives: the backend unreachable (it keeps retrying
   * with back-off), an acknowledgement that did not land (the job will be delivered again).
   * Each is also counted in `worker.stats.errors`. Default: only counted.
   */
  onError?: (err: unknown) => void
}

/** Counters of one worker. */
export interface WorkerStats {
  /** Jobs acknowledged. */
  completed: number
  /** Attempts that failed (retried or dead-lettered). */
  failed: number
  /** Jobs sent to the dead letters (handler failures, undecodable or invalid data). */
  dead: number
  /** Settlements refused because the lease had moved on (see `LeaseLostError`). */
  lateAcks: number
  /** Failures the worker survived (see `ProcessOptions.onError`). */
  errors: number
}

/** A running worker, from `queue.process()`. */
export interface Worker {
  /** The consumer name this worker claims under. */
  readonly consumer: string
  /** Handlers running now. */
  readonly running: number
  /** This worker's counters. */
  readonly stats: Readonly<WorkerStats>
  /** Resolves once the worker has stopped (by `stop()` or its `signal`). */
  readonly stopped: Promise<void>
  /**
   * Stops taking jobs. `drain: true` (default) waits for the handlers in hand and their
   * acknowledgements; `drain: false` abandons them (their `job.signal` aborts, their outcome
   * is ignored, and their jobs are delivered again after the visibility timeout).
   * Idempotent; a second call with `drain: false` turns a draining stop into an abandon.
   * `timeout` bounds a draining stop: handlers still running after it are abandoned.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => void worker.stop({ drain: true, timeout: 10_000 }))
   * ```
   */
  stop(options?: StopOptions): Promise<void>
}

/** Options of `worker.stop()`. */
export interface StopOptions {
  /** Wait for the handlers in hand (default `true`), or abandon them (`false`). */
  drain?: boolean
  /** Abandon what is still running after this many ms of draining. Default: no limit. */
  timeout?: number
}

/** What the worker needs from its queue. Internal. */
export interface WorkerSettings<T> {
  store: WorkStore
  queue: string
  schema: StandardSchemaV1<unknown, T> | undefined
  maxAttempts: number
  visibilityMs: number
  backoff: BackoffOptions
  notify: ((channel: string, data: unknown) => void) | undefined
}

/** Makes a consumer name unique to this worker. */
export function newConsumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** Internal: built by `WorkQueue.process`. */
export class WorkerLoop<T> implements Worker {
  readonly consumer: string
  readonly stats: WorkerStats = { completed: 0, failed: 0, dead: 0, lateAcks: 0, errors: 0 }
  readonly stopped: Promise<void>
  private readonly concurrency: number
  private readonly prefetch: number
  /** Jobs read ahead (`prefetch`), waiting for a free slot. */
  private readonly buffer: Array<{ job: ClaimedJob; at: number }> = []
  private readonly pollMs: number
  private readonly acks: AckBatcher
  private readonly ctl = new AbortController()
  private readonly abandon = new AbortController()
  /** Tasks (handlers with their settlement, give-backs) not finished yet. */
  private tasks = 0
  private onTasksDone: (() => void) | undefined
  private runningCount = 0
  private slotWaiter: (() => void) | undefined
  private stopping = false
  private stopPromise: Promise<void> | undefined
  private onAbandon: (() => void) | undefined
  private readonly loopDone: Promise<void>
  private resolveStopped!: () => void
  private readonly onError: (err: unknown) => void
  private readonly detachSignal: () => void

  constructor(
    private readonly s: WorkerSettings<T>,
    private readonly handler: JobHandler<T>,
    options: ProcessOptions,
  ) {
    this.concurrency = options.concurrency ?? 1
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new InvalidArgumentError(`concurrency must be an integer ≥ 1, got ${this.concurrency}`)
    this.prefetch = options.prefetch ?? 0
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0)
      throw new InvalidArgumentError(`prefetch must be an integer ≥ 0, got ${this.prefetch}`)
    this.pollMs = options.pollInterval ?? 1_000
    this.consumer = options.consumer ?? newConsumerName()
    const report = options.onError
    this.onError = (err) => {
      this.stats.errors++
      report?.(err)
    }
    this.acks = new AckBatcher(s.store, s.queue, this.consumer)
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve))
    const signal = options.signal
    const onAbort = () => void this.stop({ drain: true }).catch(this.onError)
    signal?.addEventListener('abort', onAbort, { once: true })
    this.detachSignal = () => signal?.removeEventListener('abort', onAbort)
    this.loopDone = this.loop()
    if (signal?.aborted) onAbort()
  }

  get running(): number {
    return this.runningCount
  }

  stop(options: StopOptions = {}): Promise<void> {
    const drain = options.drain ?? true
    if (!drain) this.abandonAll()
    if (this.stopPromise) return this.stopPromise
    this.stopping = true
    this.ctl.abort()
    this.slotWaiter?.()
    const timeout = options.timeout
    if (drain && timeout !== undefined && Number.isFinite(timeout)) {
      const timer = setTimeout(() => this.abandonAll(), Math.max(0, timeout))
      this.stopPromise = this.finish().finally(() => clearTimeout(timer))
    } else this.stopPromise = this.finish()
    return this.stopPromise
  }

  private abandonAll(): void {
    if (this.abandon.signal.aborted) return
    this.abandon.abort(new ClosedError('worker stopped'))
    this.onAbandon?.()
  }

  private async finish(): Promise<void> {
    this.detachSignal()
    await this.loopDone
    // Drain: handlers in hand run to the end and are settled. Abandon: `handle` sees the
    // abort and skips settling, so these resolve as soon as the handlers return — or at
    // once for handlers that never return, since we only wait on the drain path.
    if (!this.abandon.signal.aborted) {
      const abandoned = new Promise<void>((resolve) => (this.onAbandon = resolve))
      while (this.tasks > 0 && !this.abandon.signal.aborted) {
        await Promise.race([
          new Promise<void>((resolve) => (this.onTasksDone = resolve)),
          abandoned,
        ])
      }
      this.onAbandon = undefined
      this.onTasksDone = undefined
    }
    // Jobs that did complete are acknowledged, abandoning or not (one ack call at most).
    try {
      await this.acks.drained()
    } catch (err) {
      this.onError(err)
    }
    try {
      await this.s.store.removeConsumer(this.s.queue, this.consumer)
    } catch (err) {
      this.onError(err)
    }
    this.resolveStopped()
  }

  private async loop(): Promise<void> {
    let failures = 0
    const capacity = this.concurrency + this.prefetch
    while (!this.stopping) {
      if (this.runningCount + this.buffer.length >= capacity) {
        await new Promise<void>((resolve) => (this.slotWaiter = resolve))
        this.slotWaiter = undefined
        // Let the handlers finishing in this same turn free their slots too, so the next
        // claim is one batch, not a trickle of single reads.
        if (capacity > 1) await new Promise<void>((resolve) => setImmediate(resolve))
        continue
      }
      let jobs: ClaimedJob[]
      try {
        jobs = await this.s.store.claim(this.s.queue, this.consumer, {
          max: capacity - this.runningCount - this.buffer.length,
          visibilityMs: this.s.visibilityMs,
          maxAttempts: this.s.maxAttempts,
          blockMs: this.pollMs,
          signal: this.ctl.signal,
        })
        failures = 0
      } catch (err) {
        if (this.stopping || err instanceof ClosedError) break
        this.onError(err)
        failures++
        await sleep(backoffDelay(failures, { base: 100, max: 5_000 }) + 50, this.ctl.signal)
        continue
      }
      const at = Date.now()
      for (const job of jobs) this.buffer.push({ job, at })
      // Draining: jobs the last read brought in are in hand; those that fit in a free slot
      // run. Abandoning: none run.
      if (!this.abandon.signal.aborted) this.pump()
    }
    // Whatever was read ahead and not started goes back, untouched.
    const rest = this.buffer.splice(0).map((b) => b.job.lease)
    if (rest.length > 0) await this.giveBack(rest)
  }

  /** Starts buffered jobs while slots are free. */
  private pump(): void {
    let stale: string[] | undefined
    while (this.runningCount < this.concurrency && this.buffer.length > 0) {
      const { job, at } = this.buffer.shift()!
      // A job read ahead that waited too long would run on a lease about to expire: give
      // it back instead of risking a duplicate.
      if (this.prefetch > 0 && Date.now() - at > this.s.visibilityMs / 2) {
        ;(stale ??= []).push(job.lease)
        continue
      }
      this.track(this.handle(job))
    }
    if (stale) {
      this.track(this.giveBack(stale))
    }
  }

  /** Counts a task until it ends (tasks never reject: they report to `onError`). */
  private track(task: Promise<void>): void {
    this.tasks++
    const done = () => {
      if (--this.tasks === 0) this.onTasksDone?.()
    }
    void task.then(done, (err: unknown) => {
      this.onError(err)
      done()
    })
  }

  private async giveBack(leases: string[]): Promise<void> {
    try {
      await this.s.store.release(this.s.queue, this.consumer, leases)
    } catch (err) {
      this.onError(err)
    }
  }

  private async handle(claimed: ClaimedJob): Promise<void> {
    this.runningCount++
    let released = false
    const free = () => {
      if (released) return
      released = true
      this.runningCount--
      if (!this.stopping) this.pump()
      this.slotWaiter?.()
    }
    const s = this.s
    // Made on the first `job.extend`: most jobs never call it.
    let renew: LeaseRenewer | undefined
    try {
      let data: T
      try {
        data = JSON.parse(claimed.payload) as T
      } catch (err) {
        await this.settleDead(claimed, `undecodable payload: ${message(err)}`)
        return
      }
      if (s.schema) {
        try {
          data = await validate(s.schema, data, 'job data')
        } catch (err) {
          const why = err instanceof ValidationError ? err.message : message(err)
          await this.settleDead(claimed, `invalid payload: ${why}`)
          return
        }
      }
      const job: Job<T> = {
        id: claimed.id,
        queue: s.queue,
        data,
        attempt: claimed.attempt,
        firstSeenAt: claimed.firstSeenAt,
        redelivered: claimed.redelivered,
        signal: this.abandon.signal,
        extend: (ms) => (renew ??= new LeaseRenewer(this, claimed, s.visibilityMs)).extend(ms),
        ...(claimed.lastError === undefined ? {} : { lastError: claimed.lastError }),
      }
      const started = Date.now()
      let result: unknown
      try {
        result = await this.handler(job)
      } catch (err) {
        renew?.stop()
        free()
        if (this.abandon.signal.aborted) return
        await this.settleFailure(claimed, message(err))
        return
      }
      renew?.stop()
      free()
      if (this.abandon.signal.aborted) return
      let acked: boolean
      try {
        acked = await this.acks.ack(claimed.lease)
      } catch (err) {
        this.onError(err)
        return
      }
      if (!acked) {
        this.stats.lateAcks++
        return
      }
      this.stats.completed++
      s.notify?.(`work.${s.queue}.completed`, {
        queue: s.queue,
        id: claimed.id,
        attempt: claimed.attempt,
        durationMs: Date.now() - started,
        ...(result === undefined ? {} : { result }),
      })
    } finally {
      renew?.stop()
      free()
    }
  }

  /** Internal: used by the lease renewer. */
  extendLease(lease: string, ms: number): Promise<void> {
    return this.s.store.extend(this.s.queue, this.consumer, lease, ms)
  }

  private async settleFailure(job: ClaimedJob, error: string): Promise<void> {
    const s = this.s
    if (job.attempt >= s.maxAttempts) {
      await this.settleDead(job, error)
      return
    }
    const delayMs = backoffDelay(job.attempt, s.backoff)
    try {
      await s.store.retry(s.queue, this.consumer, job.lease, { delayMs, error })
    } catch (err) {
      if (err instanceof LeaseLostError) this.stats.lateAcks++
      else this.onError(err)
      return
    }
    this.stats.failed++
    s.notify?.(`work.${s.queue}.failed`, {
      queue: s.queue,
      id: job.id,
      attempt: job.attempt,
      error,
      retryInMs: delayMs,
    })
  }

  private async settleDead(job: ClaimedJob, reason: string): Promise<void> {
    const s = this.s
    try {
      await s.store.deadLetter(s.queue, this.consumer, job.lease, reason)
    } catch (err) {
      if (err instanceof LeaseLostError) this.stats.lateAcks++
      else this.onError(err)
      return
    }
    this.stats.failed++
    this.stats.dead++
    s.notify?.(`work.${s.queue}.dead`, {
      queue: s.queue,
      id: job.id,
      attempt: job.attempt,
      reason,
    })
  }
}

/**
 * Implements `job.extend(ms)` for any `ms`: the store renews a lease by at most the
 * visibility timeout, so a longer extension is renewed in steps (every third of it)
 * until its end or until the handler settles.
 */
class LeaseRenewer {
  private timer: NodeJS.Timeout | undefined
  private until = 0
  private done = false

  constructor(
    private readonly worker: { extendLease(lease: string, ms: number): Promise<void> },
    private readonly job: ClaimedJob,
    private readonly visibilityMs: number,
  ) {}

  async extend(ms: number): Promise<void> {
    if (!(ms > 0) || !Number.isFinite(ms))
      throw new InvalidArgumentError(`extend(ms): ms must be a positive number, got ${ms}`)
    if (this.done) throw new LeaseLostError(this.job.id, `job ${this.job.id} is already settled`)
    this.until = Date.now() + ms
    await this.step()
  }

  private async step(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const left = this.until - Date.now()
    if (this.done || left <= 0) return
    try {
      await this.worker.extendLease(this.job.lease, Math.min(left, this.visibilityMs))
    } catch (err) {
      if (err instanceof LeaseLostError) throw new LeaseLostError(this.job.id)
      throw err
    }
    if (!this.done && left > this.visibilityMs) {
      this.timer = setTimeout(
        () => void this.step().catch(() => {}),
        Math.max(1, Math.floor(this.visibilityMs / 3)),
      )
    }
  }

  stop(): void {
    this.done = true
    clearTimeout(this.timer)
    this.timer = undefined
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
