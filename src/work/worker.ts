/**
 * The worker loop of `queue.process(handler)`.
 *
 * It claims up to `concurrency - running` jobs at a time (one batched read), runs their
 * handlers, acknowledges successes in batches, and settles failures (retry after back-off,
 * or dead letters after `maxAttempts`). Expired leases of other consumers are picked up by
 * the store's `claim` on the way.
 *
 * Each job in hand has its own signal and lease bookkeeping (`Holding`, below). The worker
 * gives a job up — aborts its signal — when its lease is lost, when it outlives the queue's
 * `jobTimeout` (the attempt is then settled as failed at once), or when the worker abandons
 * it; whatever the handler does then (even never returning) holds its slot for a bounded
 * time only, never the queue.
 *
 * Invariants:
 * - At most `concurrency` jobs are in hand at once. A handler given up keeps its slot
 *   until it returns, one more visibility timeout at most; then it counts as `hung` and
 *   the slot is freed.
 * - One worker never runs two copies of one job: a new delivery of a job whose handler
 *   has not returned is not started (it counts as a failed attempt).
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
  TimeoutError,
  ValidationError,
} from '../events/errors.js'
import { validate, type StandardSchemaV1 } from '../events/schema.js'
import { AckBatcher } from './ack-batcher.js'
import { backoffDelay, type Backoff } from '../events/jitter.js'
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
  /**
   * Jobs given up because their lease was lost while the handler ran (no renewal landed in
   * time, or the job went to another delivery); each aborted its `job.signal`.
   */
  leasesLost: number
  /** Jobs given up because they ran longer than the queue's `jobTimeout`. */
  timedOut: number
}

/** A running worker, from `queue.process()`. */
export interface Worker {
  /** The consumer name this worker claims under. */
  readonly consumer: string
  /** Jobs in hand now (each holds a slot of `concurrency`). */
  readonly running: number
  /**
   * Handlers the worker gave up on (lease lost, `jobTimeout`, abandoned by `stop`) that
   * have not returned one visibility timeout later (at once when abandoned). They no
   * longer hold a slot; a handler that ignores its `job.signal` stays here for good — a
   * leak to look into.
   */
  readonly hung: number
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
  jobTimeoutMs: number | undefined
  backoff: Backoff
  notify: ((channel: string, data: unknown) => void) | undefined
}

/** Makes a consumer name unique to this worker. */
export function newConsumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** Internal: built by `WorkQueue.process`. */
export class WorkerLoop<T> implements Worker {
  readonly consumer: string
  readonly stats: WorkerStats = {
    completed: 0,
    failed: 0,
    dead: 0,
    lateAcks: 0,
    errors: 0,
    leasesLost: 0,
    timedOut: 0,
  }
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
  private hungCount = 0
  /** Jobs whose handler has not returned, by job id (given-up ones included). */
  private readonly live = new Map<string, Holding>()
  /** New deliveries waiting for the previous copy of their job (in `live`) to return. */
  private readonly waiting = new Map<string, Holding>()
  private readonly host: HoldingHost
  private slotWaiter: (() => void) | undefined
  private stopping = false
  /** Past the wait for tasks: a late outcome is no longer settled. */
  private closing = false
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
    this.host = {
      visibilityMs: s.visibilityMs,
      jobTimeoutMs: s.jobTimeoutMs,
      extendLease: (lease, ms) => s.store.extend(s.queue, this.consumer, lease, ms),
      report: this.onError,
      count: (what) => void this.stats[what]++,
    }
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

  get hung(): number {
    return this.hungCount
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
    const reason = new ClosedError('worker stopped')
    this.abandon.abort(reason)
    for (const held of [...this.live.values(), ...this.waiting.values()])
      held.giveUp(reason, 'ignore', false)
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
    this.closing = true
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
        await sleep(backoffDelay(failures, { initialMs: 100, maxMs: 5_000 }) + 50, this.ctl.signal)
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
      this.track(this.handle(job, at))
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

  private async handle(claimed: ClaimedJob, claimedAt: number): Promise<void> {
    const s = this.s
    this.runningCount++
    let released = false
    const free = () => {
      if (released) return
      released = true
      this.runningCount--
      if (!this.stopping) this.pump()
      this.slotWaiter?.()
    }
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
      if (this.abandon.signal.aborted) return
      const held = new Holding(this.host, claimed, claimedAt)
      const previous = this.live.get(claimed.id)
      if (previous) {
        // A new delivery of a job whose handler still runs here: the old lease is gone for
        // sure (the job was delivered again), and a second copy must not start beside the
        // first. The new one waits, on its own lease, for the old handler to return. If its
        // lease runs out first it is simply let go: the next claim redelivers it, and the
        // expired-lease pass dead-letters it at `maxAttempts` — so a job that hangs every
        // time still reaches the dead letters.
        previous.giveUp(new LeaseLostError(claimed.id), 'late', true)
        this.waiting.get(claimed.id)?.giveUp(new LeaseLostError(claimed.id), 'ignore', true)
        this.waiting.set(claimed.id, held)
        const r = await Promise.race([previous.ended.then(() => undefined), held.gaveUp])
        if (this.waiting.get(claimed.id) === held) this.waiting.delete(claimed.id)
        if (r !== undefined) return
      }
      this.live.set(claimed.id, held)
      const job: Job<T> = {
        id: claimed.id,
        queue: s.queue,
        data,
        attempt: claimed.attempt,
        firstSeenAt: claimed.firstSeenAt,
        redelivered: claimed.redelivered,
        signal: held.signal,
        extend: (ms) => held.extend(ms),
        ...(claimed.lastError === undefined ? {} : { lastError: claimed.lastError }),
      }
      const started = Date.now()
      const outcome = (async () => this.handler(job))().then(
        (result): Outcome => ({ ok: true, result }),
        (err: unknown): Outcome => ({ ok: false, err }),
      )
      const first = await Promise.race([outcome, held.gaveUp])
      if (!('giveUp' in first)) {
        held.finished()
        if (this.live.get(claimed.id) === held) this.live.delete(claimed.id)
        free()
        if (this.abandon.signal.aborted) return
        await this.settle(claimed, first, started)
        return
      }
      // Given up while the handler runs (its signal aborted). A `jobTimeout` attempt is
      // settled as failed now. The handler keeps its slot until it returns, for one more
      // visibility timeout at most (none when abandoned): past that it counts as hung and
      // its slot is freed, so hung handlers cannot take a worker down.
      const abandoned = () => this.abandon.signal.aborted
      const failing =
        first.mode === 'now' && !abandoned()
          ? this.settleFailure(claimed, first.message)
          : undefined
      const late =
        first.mode === 'ignore'
          ? undefined
          : await within(outcome, s.visibilityMs, this.abandon.signal)
      if (late === undefined) {
        this.hungCount++
        void outcome.then((o) => {
          held.finished()
          this.hungCount--
          if (this.live.get(claimed.id) === held) this.live.delete(claimed.id)
          if (first.mode === 'late' && !abandoned() && !this.closing)
            this.track(this.settle(claimed, o, started))
        })
      } else {
        held.finished()
        if (this.live.get(claimed.id) === held) this.live.delete(claimed.id)
      }
      free()
      // A lost lease: what the handler did is still offered, and refused (counted as a
      // late ack) if the job has gone to another delivery meanwhile.
      if (late !== undefined && first.mode === 'late' && !abandoned())
        await this.settle(claimed, late, started)
      await failing
    } finally {
      free()
    }
  }

  /** Acknowledges a success or settles a failure, counting a refused one as a late ack. */
  private async settle(claimed: ClaimedJob, outcome: Outcome, started: number): Promise<void> {
    const s = this.s
    if (!outcome.ok) {
      await this.settleFailure(claimed, message(outcome.err))
      return
    }
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
      ...(outcome.result === undefined ? {} : { result: outcome.result }),
    })
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

/** How a handler ended. */
type Outcome = { ok: true; result: unknown } | { ok: false; err: unknown }

/**
 * What to do with an attempt given up while its handler runs: settle it as failed now
 * (`jobTimeout`: the lease is still ours), offer the handler's outcome whenever it comes
 * (a lost lease: refused as late if the job moved on), or ignore it (abandoned).
 */
type GiveUpMode = 'now' | 'late' | 'ignore'

/** Why the worker gave up on a job while its handler ran. */
interface GiveUp {
  giveUp: true
  mode: GiveUpMode
  message: string
}

/** What a `Holding` needs from its worker. */
interface HoldingHost {
  readonly visibilityMs: number
  readonly jobTimeoutMs: number | undefined
  extendLease(lease: string, ms: number): Promise<void>
  /** A failure the worker survives (counted, told to `onError`). */
  report(err: unknown): void
  /** A lease given up as lost, or a job timed out. */
  count(what: 'leasesLost' | 'timedOut'): void
}

/**
 * One job in hand: its own signal, the lease the worker believes it holds, `job.extend`.
 *
 * The worker keeps its own, conservative idea of when the lease runs out: the claim's
 * return plus the visibility timeout, then the send time of each renewal that landed plus
 * its length (the store can only have set a later deadline). When that time passes with no
 * renewal landed, the lease counts as lost, whatever the reason (a hung handler that never
 * extended, Redis away for longer than the lease): the job's signal aborts with
 * `LeaseLostError`, the loss is reported, and the attempt is settled as failed (refused as
 * late if another consumer already took the job). So a job is never knowingly run on a
 * lease another consumer may hold.
 *
 * Renewals (`job.extend(ms)`, any length) go in steps of at most the visibility timeout,
 * every third of it. A renewal that fails for want of the backend is reported and retried
 * soon after, until one lands or the lease runs out; a renewal the store refuses
 * (`LeaseLostError`: the job went to another delivery) gives the job up at once.
 */
class Holding {
  readonly gaveUp: Promise<GiveUp>
  /** Resolves when the handler has returned (or thrown). */
  readonly ended: Promise<void>
  private resolveEnded!: () => void
  private readonly ctl = new AbortController()
  private resolveGaveUp!: (g: GiveUp) => void
  /** No more renewals or timers: the handler returned, or the job was given up. */
  private done = false
  private deadline: number
  private expiry: NodeJS.Timeout | undefined
  private timeout: NodeJS.Timeout | undefined
  private until = 0
  private renewing = false
  private wake: (() => void) | undefined
  private waiters: Array<{ at: number; resolve(): void; reject(err: unknown): void }> = []

  constructor(
    private readonly host: HoldingHost,
    private readonly job: ClaimedJob,
    claimedAt: number,
  ) {
    this.gaveUp = new Promise((resolve) => (this.resolveGaveUp = resolve))
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve))
    this.deadline = claimedAt + host.visibilityMs
    this.armExpiry()
    const limit = host.jobTimeoutMs
    if (limit !== undefined) {
      this.timeout = setTimeout(() => {
        host.count('timedOut')
        this.giveUp(
          new TimeoutError(limit, `job ${job.id} timed out after ${limit} ms (jobTimeout)`),
          'now',
          true,
        )
      }, limit)
    }
  }

  get signal(): AbortSignal {
    return this.ctl.signal
  }

  /** Gives the job up: aborts its signal with `reason`; idempotent, no-op once returned. */
  giveUp(reason: Error, mode: GiveUpMode, report: boolean): void {
    if (this.done) return
    this.stop()
    if (reason instanceof LeaseLostError) this.host.count('leasesLost')
    this.ctl.abort(reason)
    for (const w of this.waiters.splice(0)) w.reject(reason)
    if (report) this.host.report(reason)
    this.resolveGaveUp({ giveUp: true, mode, message: reason.message })
  }

  /** The handler returned (or, for a delivery that never started one, was let go). */
  finished(): void {
    this.resolveEnded()
    if (this.done) return
    this.stop()
    const settled = new LeaseLostError(this.job.id, `job ${this.job.id} is already settled`)
    for (const w of this.waiters.splice(0)) w.reject(settled)
  }

  extend(ms: number): Promise<void> {
    if (!(ms > 0) || !Number.isFinite(ms))
      return Promise.reject(
        new InvalidArgumentError(`extend(ms): ms must be a positive number, got ${ms}`),
      )
    if (this.done) {
      const why: unknown = this.ctl.signal.aborted
        ? this.ctl.signal.reason
        : new LeaseLostError(this.job.id, `job ${this.job.id} is already settled`)
      return Promise.reject(why instanceof Error ? why : new Error(String(why)))
    }
    const at = Date.now()
    this.until = at + ms
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ at, resolve, reject }))
    // A handler that does not await its extend must not crash the process when the lease
    // is lost later: the rejection is there for those who await it.
    p.catch(() => {})
    if (this.renewing) this.wake?.()
    else void this.renewLoop()
    return p
  }

  private armExpiry(): void {
    clearTimeout(this.expiry)
    this.expiry = setTimeout(
      () => {
        if (this.done) return
        if (Date.now() < this.deadline) return this.armExpiry()
        this.giveUp(
          new LeaseLostError(
            this.job.id,
            `the lease on job ${JSON.stringify(this.job.id)} ran out: no renewal landed within the visibility timeout (${this.host.visibilityMs} ms)`,
          ),
          'late',
          true,
        )
      },
      Math.max(0, this.deadline - Date.now()),
    )
  }

  private async renewLoop(): Promise<void> {
    this.renewing = true
    let failures = 0
    const vis = this.host.visibilityMs
    try {
      while (!this.done) {
        const sentAt = Date.now()
        const left = this.until - sentAt
        if (left <= 0) {
          for (const w of this.waiters.splice(0)) w.resolve()
          break
        }
        const step = Math.min(left, vis)
        try {
          await this.host.extendLease(this.job.lease, step)
        } catch (err) {
          if (this.done) break
          if (err instanceof LeaseLostError) {
            this.giveUp(new LeaseLostError(this.job.id), 'late', true)
            break
          }
          // Did not land (the backend is slow or away): say so and try again soon. If no
          // renewal lands before the lease runs out, the expiry timer gives the job up.
          this.host.report(err)
          failures++
          await this.pause(
            Math.min(backoffDelay(failures, { initialMs: 50, maxMs: 1_000 }) + 10, vis / 5),
          )
          continue
        }
        failures = 0
        if (this.done) break
        this.deadline = sentAt + step
        this.armExpiry()
        this.waiters = this.waiters.filter((w) => {
          if (w.at > sentAt) return true
          w.resolve()
          return false
        })
        if (this.waiters.length > 0) continue
        if (this.until <= sentAt + step) break
        await this.pause(Math.max(1, Math.floor(vis / 3)))
      }
    } finally {
      this.renewing = false
    }
  }

  /** Waits `ms`, or less when woken (a new `extend`, or the end). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wake = done
    })
  }

  private stop(): void {
    this.done = true
    clearTimeout(this.expiry)
    clearTimeout(this.timeout)
    this.expiry = undefined
    this.timeout = undefined
    this.wake?.()
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** `p`'s value, or `undefined` once `ms` passed or `signal` aborted (whichever first). */
function within<T>(p: Promise<T>, ms: number, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    const done = (v: T | undefined) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      resolve(v)
    }
    const onAbort = () => done(undefined)
    const timer = setTimeout(onAbort, ms)
    signal.addEventListener('abort', onAbort, { once: true })
    void p.then(done)
  })
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
