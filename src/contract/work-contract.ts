/**
 * The work-queue primitives of the backend contract: durable, at-least-once delivery of
 * jobs to the consumers of a queue, with leases, retries and dead letters. See
 * `contract.ts` for the rest of the contract; `src/work/` builds the user API on this.
 *
 * Vocabulary:
 * - A **job** has a stable `id` (given at add, or made by the backend) and a string
 *   `payload` (encoded by the caller: the store never looks inside).
 * - A **delivery** hands a job to one consumer with a **lease** that lasts `visibilityMs`.
 *   While the lease holds, nobody else gets the job. When it runs out without an ack the job
 *   is delivered again (to anyone, the same consumer included) with `attempt + 1`.
 * - A lease is named by an opaque `lease` string, unique per delivery. Settling a job
 *   (`ack`, `retry`, `deadLetter`) or `extend`ing it needs the lease of the **current**
 *   delivery: a stale lease (its time ran out and the job was delivered again, or the job was
 *   already settled) is refused — `ack` lists it in `late`, the others reject with
 *   `LeaseLostError` — and counted in `WorkStats.lateAcks`. The current holder decides the
 *   outcome; a late handler never overwrites it.
 *
 * Invariants every backend keeps (the conformance suite in `test/conformance/work-suite.ts`
 * checks them):
 * - No job is lost: a job is, at every moment, exactly one of waiting, in flight, delayed or
 *   dead, until it is acknowledged (or purged from the dead letters).
 * - `stats()` counts are exact when nothing else is writing.
 * - Nothing blocks forever: `claim` waits at most `blockMs` and honours `signal`.
 */

/** A job to add. */
export interface WorkJobDraft {
  /**
   * Idempotency key. A second add with an id the queue has seen within
   * `WorkAddOptions.idempotencyTtlMs` is ignored (reported in `duplicates`), even when the
   * first job has already completed. Omit it and the backend makes a unique id.
   */
  id?: string
  /** The encoded job data. */
  payload: string
  /** Keep the job delayed this long before it can be claimed. */
  delayMs?: number
}

/** Options for `WorkStore.add`. */
export interface WorkAddOptions {
  /**
   * How long a given job id is remembered for de-duplication, in ms (default
   * `DEFAULT_IDEMPOTENCY_TTL_MS`, 24 h). Memory is bounded by this: ids are forgotten after
   * it, and an add with a forgotten id is a new job.
   */
  idempotencyTtlMs?: number
}

/** The default time a job id is remembered for de-duplication: 24 hours. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000

/** What `add` did. */
export interface WorkAddResult {
  /** The id of every draft, in input order (duplicates included). */
  ids: string[]
  /** The ids that were ignored because the queue already knew them. */
  duplicates: string[]
}

/** Options for `WorkStore.claim`. */
export interface WorkClaimOptions {
  /** Hand out at most this many jobs (≥ 1). */
  max: number
  /** The lease length: a job not settled or extended within it is delivered again. */
  visibilityMs: number
  /**
   * A job whose lease expired and whose next attempt would exceed this goes to the dead
   * letters (reason `lease expired …`) instead of being delivered again, so a job that kills
   * its consumer every time cannot loop forever. Default: no limit.
   */
  maxAttempts?: number
  /** Wait up to this long for a job when none is ready (default 0: do not wait). */
  blockMs?: number
  /** Stops the wait; `claim` then resolves with what it has (possibly nothing). */
  signal?: AbortSignal
}

/** A job handed to a consumer. */
export interface ClaimedJob {
  /** The job id (stable across attempts). */
  id: string
  /** The encoded job data, as added. */
  payload: string
  /** 1 for the first delivery; each retry or redelivery adds one. */
  attempt: number
  /** When the job was first added, epoch ms. */
  firstSeenAt: number
  /** The error recorded by the last failed attempt, if any. */
  lastError?: string
  /** Whether this delivery follows an expired lease (the previous holder went silent). */
  redelivered: boolean
  /** Names this delivery; pass it to `ack`, `retry`, `deadLetter`, `extend`. Opaque. */
  lease: string
}

/** What `ack` did. */
export interface WorkAckResult {
  /** How many leases were acknowledged (their jobs are done). */
  acked: number
  /** Leases refused because they were stale (see the file comment); counted in `lateAcks`. */
  late: string[]
}

/** A dead job. */
export interface DeadJob {
  id: string
  payload: string
  /** Attempts made before it died. */
  attempts: number
  firstSeenAt: number
  /** When it was dead-lettered, epoch ms. */
  deadAt: number
  /** Why: the handler's last error, `lease expired …`, `undecodable payload: …`. */
  reason: string
}

/** Exact counts for one queue. */
export interface WorkStats {
  /** Ready to be claimed. */
  waiting: number
  /** Claimed, lease running (or expired and not yet reclaimed). */
  inFlight: number
  /** Waiting for their delay (or retry back-off) to pass. */
  delayed: number
  /** In the dead letters now. */
  dead: number
  /** Acknowledged, ever. */
  completed: number
  /** Attempts that failed (`retry` plus `deadLetter` calls), ever. */
  failed: number
  /** Deliveries after an expired lease, ever. */
  redelivered: number
  /** Settlements refused because the lease was stale, ever. */
  lateAcks: number
}

/**
 * Work-queue storage. Queues are created on first use; a queue name is a non-empty string
 * without `{`, `}` or whitespace. A `consumer` is a name unique to one worker (e.g.
 * `host-pid-random`); two live workers must not share one.
 */
export interface WorkStore {
  /** Adds jobs, atomically per job; see `WorkJobDraft.id` for de-duplication. */
  add(queue: string, jobs: WorkJobDraft[], options?: WorkAddOptions): Promise<WorkAddResult>
  /**
   * Hands out up to `max` jobs: those whose lease expired first (attempt + 1, `redelivered`),
   * then new ones in add order. Due delayed jobs become claimable on the way. Resolves with
   * an empty array when nothing came within `blockMs` or `signal` fired.
   */
  claim(queue: string, consumer: string, options: WorkClaimOptions): Promise<ClaimedJob[]>
  /** Acknowledges finished jobs, in one round trip for the whole batch. */
  ack(queue: string, consumer: string, leases: string[]): Promise<WorkAckResult>
  /**
   * Settles a failed attempt: the job goes back to waiting after `delayMs`, keeping its id,
   * first-seen time and attempt count, with `error` as its `lastError`.
   * `LeaseLostError` when the lease is stale.
   */
  retry(
    queue: string,
    consumer: string,
    lease: string,
    options: { delayMs: number; error: string },
  ): Promise<void>
  /** Moves the job to the dead letters with `reason`. `LeaseLostError` when stale. */
  deadLetter(queue: string, consumer: string, lease: string, reason: string): Promise<void>
  /**
   * Renews the lease so that it runs out `ms` from now; `0 < ms ≤ visibilityMs` of the
   * claim (a longer job extends again). `LeaseLostError` when stale.
   */
  extend(queue: string, consumer: string, lease: string, ms: number): Promise<void>
  /**
   * Gives leases back without counting an attempt or a redelivery: the jobs go to the next
   * claimer's expired-lease pass (memory: at once; Redis: the next reclaim pass, within a
   * quarter of the visibility timeout, at most 5 s) with the same attempt number. For a
   * worker that stops with jobs it has not started. Stale leases are ignored. Resolves with
   * how many were given back.
   */
  release(queue: string, consumer: string, leases: string[]): Promise<number>
  /**
   * Forgets a consumer once it holds nothing (its remaining leases, if any, still expire
   * and redeliver as usual) and frees what the store kept for it (a blocking connection).
   */
  removeConsumer(queue: string, consumer: string): Promise<void>
  /** Dead jobs, oldest first, at most `limit` (default 100). */
  deadList(queue: string, options?: { limit?: number }): Promise<DeadJob[]>
  /**
   * Moves dead jobs back to waiting with a fresh attempt count (all when `ids` is omitted).
   * Resolves with how many moved; unknown ids are skipped.
   */
  deadRetry(queue: string, ids?: string[]): Promise<number>
  /** Deletes dead jobs (all when `ids` is omitted). Resolves with how many were deleted. */
  deadPurge(queue: string, ids?: string[]): Promise<number>
  /** Exact counts (see `WorkStats`). */
  stats(queue: string): Promise<WorkStats>
}
