/**
 * In-process work-queue storage: the memory backend's `WorkStore`.
 *
 * Time is read from `Date.now()` and waits use `setTimeout`, so tests drive it with fake
 * timers. Nothing runs in the background: due delayed jobs and expired leases are noticed
 * lazily (on `claim`, `stats`, and by the wake-up timer of a blocked `claim`), which keeps a
 * closed or idle store free of timers.
 *
 * Invariant: every job record is in exactly one of `waiting`, `inFlight` (by lease),
 * `delayed` or `dead`.
 */
import { ClosedError, InvalidArgumentError, LeaseLostError } from '../../events/errors.js'
import {
  type ClaimedJob,
  type DeadJob,
  DEFAULT_IDEMPOTENCY_TTL_MS,
  type WorkAckResult,
  type WorkAddOptions,
  type WorkAddResult,
  type WorkClaimOptions,
  type WorkJobDraft,
  type WorkStats,
  type WorkStore,
} from '../../contract/work-contract.js'

interface JobRecord {
  id: string
  payload: string
  /** Deliveries made so far. */
  attempts: number
  firstSeenAt: number
  lastError?: string
}

interface Delivery {
  lease: string
  job: JobRecord
  consumer: string
  deadline: number
  visibilityMs: number
}

interface Delayed {
  due: number
  job: JobRecord
}

interface Waiter {
  wake(): void
}

class MemoryQueue {
  /** FIFO of ready jobs; `head` indexes the next one (compacted now and then). */
  waiting: JobRecord[] = []
  head = 0
  readonly inFlight = new Map<string, Delivery>()
  /** Sorted by `due`, soonest first. */
  delayed: Delayed[] = []
  readonly dead = new Map<string, DeadJob>()
  /** Idempotency keys → forget-at time, in insertion order. */
  readonly seen = new Map<string, number>()
  readonly waiters = new Set<Waiter>()
  /** The earliest lease deadline among `inFlight` (a lower bound; recomputed on scan). */
  nextExpiry = Infinity
  completed = 0
  failed = 0
  redelivered = 0
  lateAcks = 0

  get waitingCount(): number {
    return this.waiting.length - this.head
  }

  pushWaiting(job: JobRecord, front = false): void {
    if (front) {
      if (this.head > 0) this.waiting[--this.head] = job
      else this.waiting.unshift(job)
    } else this.waiting.push(job)
    this.notify()
  }

  shiftWaiting(): JobRecord | undefined {
    if (this.head >= this.waiting.length) return undefined
    const job = this.waiting[this.head]
    this.waiting[this.head++] = undefined as unknown as JobRecord
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head)
      this.head = 0
    }
    return job
  }

  addDelayed(job: JobRecord, due: number): void {
    let lo = 0
    let hi = this.delayed.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.delayed[mid].due <= due) lo = mid + 1
      else hi = mid
    }
    this.delayed.splice(lo, 0, { due, job })
  }

  promoteDue(now: number): void {
    let n = 0
    while (n < this.delayed.length && this.delayed[n].due <= now) n++
    if (n === 0) return
    for (const d of this.delayed.splice(0, n)) this.waiting.push(d.job)
    this.notify()
  }

  notify(): void {
    for (const w of this.waiters) w.wake()
  }

  forgetSeen(now: number): void {
    for (const [id, until] of this.seen) {
      if (until > now) break
      this.seen.delete(id)
    }
  }
}

let leaseCounter = 0
let idCounter = 0
const idPrefix = Math.random().toString(36).slice(2, 8)

/** Creates the memory backend's work store. */
export function createMemoryWorkStore(): WorkStore & { close(): Promise<void> } {
  return new MemoryWorkStore()
}

/** The memory `WorkStore`. Internal: use `createMemoryWorkStore()`. */
class MemoryWorkStore implements WorkStore {
  private readonly queues = new Map<string, MemoryQueue>()
  private closed = false

  private q(name: string): MemoryQueue {
    if (this.closed) throw new ClosedError('the work store is closed')
    let q = this.queues.get(name)
    if (!q) {
      q = new MemoryQueue()
      this.queues.set(name, q)
    }
    return q
  }

  add(queue: string, jobs: WorkJobDraft[], options?: WorkAddOptions): Promise<WorkAddResult> {
    return run(() => {
      const q = this.q(queue)
      const now = Date.now()
      const ttl = options?.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS
      q.forgetSeen(now)
      const ids: string[] = []
      const duplicates: string[] = []
      for (const draft of jobs) {
        let id = draft.id
        if (id !== undefined) {
          const until = q.seen.get(id)
          if (until !== undefined && until > now) {
            ids.push(id)
            duplicates.push(id)
            continue
          }
          q.seen.delete(id)
          q.seen.set(id, now + ttl)
        } else id = `${idPrefix}-${(++idCounter).toString(36)}`
        ids.push(id)
        const job: JobRecord = { id, payload: draft.payload, attempts: 0, firstSeenAt: now }
        if (draft.delayMs !== undefined && draft.delayMs > 0) q.addDelayed(job, now + draft.delayMs)
        else q.waiting.push(job)
      }
      q.notify()
      return { ids, duplicates }
    })
  }

  async claim(queue: string, consumer: string, options: WorkClaimOptions): Promise<ClaimedJob[]> {
    const q = this.q(queue)
    const deadline = Date.now() + (options.blockMs ?? 0)
    for (;;) {
      if (this.closed || options.signal?.aborted) return []
      const got = this.take(q, consumer, options)
      if (got.length > 0) return got
      const now = Date.now()
      if (now >= deadline) return []
      const nextEvent = Math.min(q.delayed[0]?.due ?? Infinity, q.nextExpiry, deadline)
      await this.wait(q, Math.max(0, nextEvent - now), options.signal)
    }
  }

  private wait(q: MemoryQueue, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter: Waiter = { wake: () => done() }
      const timer = setTimeout(() => done(), ms)
      const done = () => {
        clearTimeout(timer)
        q.waiters.delete(waiter)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      q.waiters.add(waiter)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  private take(q: MemoryQueue, consumer: string, options: WorkClaimOptions): ClaimedJob[] {
    const now = Date.now()
    q.promoteDue(now)
    const out: ClaimedJob[] = []
    const max = Math.max(1, options.max)
    if (now >= q.nextExpiry) {
      let next = Infinity
      q.nextExpiry = Infinity // `deliver` lowers it for the leases it hands out
      for (const d of [...q.inFlight.values()]) {
        if (d.deadline > now) {
          next = Math.min(next, d.deadline)
          continue
        }
        if (out.length >= max) {
          next = now
          continue
        }
        q.inFlight.delete(d.lease)
        const job = d.job
        if (options.maxAttempts !== undefined && job.attempts >= options.maxAttempts) {
          this.toDead(
            q,
            job,
            `lease expired on attempt ${job.attempts} of ${options.maxAttempts}: no answer from the consumer within the visibility timeout`,
          )
          continue
        }
        q.redelivered++
        out.push(this.deliver(q, job, consumer, options.visibilityMs, now, true))
      }
      q.nextExpiry = Math.min(q.nextExpiry, next)
    }
    while (out.length < max) {
      const job = q.shiftWaiting()
      if (!job) break
      out.push(this.deliver(q, job, consumer, options.visibilityMs, now, false))
    }
    return out
  }

  private deliver(
    q: MemoryQueue,
    job: JobRecord,
    consumer: string,
    visibilityMs: number,
    now: number,
    redelivered: boolean,
  ): ClaimedJob {
    job.attempts++
    const lease = `m${++leaseCounter}`
    const deadline = now + visibilityMs
    q.inFlight.set(lease, { lease, job, consumer, deadline, visibilityMs })
    if (deadline < q.nextExpiry) q.nextExpiry = deadline
    const claimed: ClaimedJob = {
      id: job.id,
      payload: job.payload,
      attempt: job.attempts,
      firstSeenAt: job.firstSeenAt,
      redelivered,
      lease,
    }
    if (job.lastError !== undefined) claimed.lastError = job.lastError
    return claimed
  }

  /** The current delivery for `lease`, or `undefined` (stale: counted as a late ack). */
  private holder(q: MemoryQueue, consumer: string, lease: string): Delivery | undefined {
    const d = q.inFlight.get(lease)
    // An expired lease not yet reclaimed still counts as held: the job has not gone
    // anywhere else, so the holder may settle it (same as the Redis backend).
    if (!d || d.consumer !== consumer) {
      q.lateAcks++
      return undefined
    }
    return d
  }

  ack(queue: string, consumer: string, leases: string[]): Promise<WorkAckResult> {
    return run(() => {
      const q = this.q(queue)
      const late: string[] = []
      let acked = 0
      for (const lease of leases) {
        if (!this.holder(q, consumer, lease)) {
          late.push(lease)
          continue
        }
        q.inFlight.delete(lease)
        q.completed++
        acked++
      }
      return { acked, late }
    })
  }

  retry(
    queue: string,
    consumer: string,
    lease: string,
    options: { delayMs: number; error: string },
  ): Promise<void> {
    return run(() => {
      const q = this.q(queue)
      const d = this.holder(q, consumer, lease)
      if (!d) throw new LeaseLostError(jobOfLease(q, lease))
      q.inFlight.delete(lease)
      q.failed++
      d.job.lastError = options.error
      if (options.delayMs > 0) q.addDelayed(d.job, Date.now() + options.delayMs)
      else q.pushWaiting(d.job)
      q.notify()
    })
  }

  deadLetter(queue: string, consumer: string, lease: string, reason: string): Promise<void> {
    return run(() => {
      const q = this.q(queue)
      const d = this.holder(q, consumer, lease)
      if (!d) throw new LeaseLostError(jobOfLease(q, lease))
      q.inFlight.delete(lease)
      q.failed++
      this.toDead(q, d.job, reason)
    })
  }

  private toDead(q: MemoryQueue, job: JobRecord, reason: string): void {
    q.dead.delete(job.id)
    q.dead.set(job.id, {
      id: job.id,
      payload: job.payload,
      attempts: job.attempts,
      firstSeenAt: job.firstSeenAt,
      deadAt: Date.now(),
      reason,
    })
  }

  extend(queue: string, consumer: string, lease: string, ms: number): Promise<void> {
    return run(() => {
      const q = this.q(queue)
      const d = q.inFlight.get(lease)
      if (!d || d.consumer !== consumer) {
        q.lateAcks++
        throw new LeaseLostError(jobOfLease(q, lease))
      }
      if (!(ms > 0 && ms <= d.visibilityMs))
        throw new InvalidArgumentError(
          `extend(ms): ms must be in (0, ${d.visibilityMs}] (the visibility timeout), got ${ms}`,
        )
      d.deadline = Date.now() + ms
    })
  }

  release(queue: string, consumer: string, leases: string[]): Promise<number> {
    return run(() => {
      const q = this.q(queue)
      let n = 0
      for (const lease of [...leases].reverse()) {
        const d = q.inFlight.get(lease)
        if (!d || d.consumer !== consumer) continue
        q.inFlight.delete(lease)
        d.job.attempts--
        q.pushWaiting(d.job, true)
        n++
      }
      return n
    })
  }

  removeConsumer(_queue: string, _consumer: string): Promise<void> {
    return Promise.resolve()
  }

  deadList(queue: string, options?: { limit?: number }): Promise<DeadJob[]> {
    return run(() => {
      const limit = options?.limit ?? 100
      const out: DeadJob[] = []
      for (const d of this.q(queue).dead.values()) {
        if (out.length >= limit) break
        out.push({ ...d })
      }
      return out
    })
  }

  deadRetry(queue: string, ids?: string[]): Promise<number> {
    return run(() => {
      const q = this.q(queue)
      let n = 0
      for (const id of ids ?? [...q.dead.keys()]) {
        const d = q.dead.get(id)
        if (!d) continue
        q.dead.delete(id)
        q.waiting.push({ id: d.id, payload: d.payload, attempts: 0, firstSeenAt: d.firstSeenAt })
        n++
      }
      if (n > 0) q.notify()
      return n
    })
  }

  deadPurge(queue: string, ids?: string[]): Promise<number> {
    return run(() => {
      const q = this.q(queue)
      if (!ids) {
        const n = q.dead.size
        q.dead.clear()
        return n
      }
      let n = 0
      for (const id of ids) if (q.dead.delete(id)) n++
      return n
    })
  }

  stats(queue: string): Promise<WorkStats> {
    return run(() => {
      const q = this.q(queue)
      q.promoteDue(Date.now())
      return {
        waiting: q.waitingCount,
        inFlight: q.inFlight.size,
        delayed: q.delayed.length,
        dead: q.dead.size,
        completed: q.completed,
        failed: q.failed,
        redelivered: q.redelivered,
        lateAcks: q.lateAcks,
      }
    })
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true
      for (const q of this.queues.values()) q.notify()
      this.queues.clear()
    }
    return Promise.resolve()
  }
}

function jobOfLease(q: MemoryQueue, lease: string): string {
  return q.inFlight.get(lease)?.job.id ?? lease
}

/** Runs `fn` and turns a throw into a rejection, so callers always get a promise. */
function run<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn())
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)))
  }
}
