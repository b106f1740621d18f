/**
 * Coalesces the acknowledgements of a worker's handlers into one `WorkStore.ack` call per
 * batch. On Redis one multi-id XACK is about twice as fast as pipelined single ones, and
 * far fewer commands; and an ack kept off the read path lets the next job come sooner.
 *
 * Batching rule: an ack waits at most `windowMs` (default 1 ms) for others to join it,
 * or until `maxBatch` are waiting; while a call is in flight the next acks wait for it (one
 * call in flight at a time) and then for their own window, so batches grow with the load.
 * A job's lease runs far longer than the window, so the delay risks nothing.
 */
import type { WorkStore } from '../contract/work-contract.js'

interface PendingAck {
  lease: string
  resolve(acked: boolean): void
  reject(err: unknown): void
}

/** Options of an `AckBatcher`. */
export interface AckBatcherOptions {
  /** Longest wait for more acks to join a batch, ms (default 1; 0 = the same microtask). */
  windowMs?: number
  /** Send at once when this many are waiting (default 500). */
  maxBatch?: number
}

/** Batches acks for one queue and consumer. Internal to the worker. */
export class AckBatcher {
  private pending: PendingAck[] = []
  private timer: NodeJS.Timeout | undefined
  private scheduled = false
  private inFlight: Promise<void> | undefined
  private idle: Array<() => void> = []
  private readonly windowMs: number
  private readonly maxBatch: number

  constructor(
    private readonly store: WorkStore,
    private readonly queue: string,
    private readonly consumer: string,
    options: AckBatcherOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 1
    this.maxBatch = options.maxBatch ?? 500
  }

  /** Acknowledges `lease`; resolves `true` when acked, `false` when the lease was stale. */
  ack(lease: string): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.pending.push({ lease, resolve, reject })
      if (this.inFlight) return // goes out after the call in flight
      if (this.pending.length >= this.maxBatch) this.flushNow()
      else this.schedule()
    })
  }

  /** Sends what is waiting now, and resolves once every ack given so far was answered. */
  drained(): Promise<void> {
    if (this.scheduled && !this.inFlight) this.flushNow()
    if (this.pending.length > 0 || this.inFlight || this.scheduled)
      return new Promise((resolve) => this.idle.push(resolve))
    return Promise.resolve()
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    if (this.windowMs > 0) this.timer = setTimeout(() => this.flush(), this.windowMs)
    else queueMicrotask(() => this.flush())
  }

  private flushNow(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.flush()
  }

  private flush(): void {
    this.scheduled = false
    this.timer = undefined
    const batch = this.pending
    if (batch.length === 0) {
      this.settleIdle()
      return
    }
    this.pending = []
    this.inFlight = this.store
      .ack(
        this.queue,
        this.consumer,
        batch.map((a) => a.lease),
      )
      .then(
        (res) => {
          const late = res.late.length === 0 ? undefined : new Set(res.late)
          for (const a of batch) a.resolve(!late?.has(a.lease))
        },
        (err: unknown) => {
          for (const a of batch) a.reject(err)
        },
      )
      .finally(() => {
        this.inFlight = undefined
        // What came in meanwhile gets its own window too (unless a drain is waiting), so
        // batches stay large at low concurrency instead of alternating big and tiny.
        if (this.pending.length === 0) this.settleIdle()
        else if (this.pending.length >= this.maxBatch || this.idle.length > 0) this.flush()
        else this.schedule()
      })
  }

  private settleIdle(): void {
    if (this.inFlight || this.scheduled) return
    const idle = this.idle
    this.idle = []
    for (const f of idle) f()
  }
}
