/**
 * The job a handler receives, and the options of a work queue.
 */
import type { StandardSchemaV1 } from '../events/schema.js'
import type { BackoffOptions } from '../events/jitter.js'

/**
 * One delivery of a job to a handler.
 *
 * Gotcha: delivery is at-least-once. The same job can reach a handler more than once (its
 * consumer died, or its handler outlived the visibility timeout): make handlers idempotent,
 * e.g. keyed by `job.id`.
 */
export interface Job<T> {
  /** The job id: the idempotency key given at add, or one made by the backend. */
  readonly id: string
  /** The queue's name. */
  readonly queue: string
  /** The data, decoded (and checked by the queue's schema, when it has one). */
  readonly data: T
  /** 1 on the first delivery; retries and redeliveries add one. */
  readonly attempt: number
  /** When the job was first added, epoch ms. */
  readonly firstSeenAt: number
  /** The error of the previous failed attempt, if any. */
  readonly lastError?: string
  /** Whether the previous holder's lease expired (it died or was too slow). */
  readonly redelivered: boolean
  /**
   * This job's own signal: aborted when the worker gives the job up, with the reason —
   * `LeaseLostError` (its lease was lost: no renewal landed in time, or the job went to
   * another delivery), `TimeoutError` (it ran longer than the queue's `jobTimeout`),
   * `ClosedError` (the worker abandoned it: `stop({ drain: false })` or a drain timeout).
   * Stop working when it fires: the attempt is already settled as failed (or belongs to the
   * new holder), and what the handler returns after it is ignored.
   */
  readonly signal: AbortSignal
  /**
   * Keeps the job for `ms` more (from now): a long handler calls it so the job is not
   * delivered to someone else meanwhile. Longer than the visibility timeout is fine: the
   * lease is renewed in steps (every third of the visibility timeout) until then, or until
   * the handler settles. A renewal that fails because the backend is slow or away is
   * reported to `onError` and retried until one lands or the lease runs out.
   *
   * Resolves once a renewal sent after the call has landed. Calling it without awaiting is
   * fine (a later loss then shows on `job.signal` only).
   *
   * @throws LeaseLostError (rejects) when the lease is lost — it ran out with no renewal
   * landed, or the job was delivered again: stop working on it (`job.signal` aborts too),
   * its outcome belongs to the new holder. After a `jobTimeout` it rejects with that
   * `TimeoutError`.
   */
  extend(ms: number): Promise<void>
}

/** A job handler: resolve to acknowledge, throw to fail the attempt. */
export type JobHandler<T> = (job: Job<T>) => unknown

/** Options of `rb.work.queue(name, options)`. */
export interface WorkQueueOptions<T> {
  /**
   * A Standard Schema (zod, valibot, arktype…) for the data. `add` refuses data failing it
   * with `ValidationError` and stores the data as given; the handler gets the schema's
   * output (transforms run once, at delivery). A delivered job failing it (written by an
   * older producer, say) goes to the dead letters with the reason.
   */
  schema?: StandardSchemaV1<unknown, T>
  /** Attempts before a failing job is dead-lettered (default 5). */
  maxAttempts?: number
  /** Lease length in ms: a job not settled within it is delivered again (default 30 000). */
  visibilityTimeout?: number
  /**
   * Longest a handler may run, in ms, `job.extend` or not (default: no limit; a handler
   * that never extends is bounded by the visibility timeout anyway). Past it the job's
   * `signal` aborts with `TimeoutError`, its slot is freed, and the attempt fails with
   * `timed out after <ms> ms (jobTimeout)` (retried, or dead-lettered at `maxAttempts`) —
   * whether or not the handler returns.
   */
  jobTimeout?: number
  /**
   * Retry back-off, exponential with full jitter: the first retry waits up to `initialMs`,
   * none longer than `maxMs` (`DEFAULT_RETRY_BACKOFF`: 1 000 ms, 60 000 ms).
   */
  backoff?: BackoffOptions
  /** How long job ids are remembered for de-duplication, ms (default 24 h). */
  idempotencyTtl?: number
  /**
   * Publish notices on the bus (`work.<queue>.completed`, `.failed`, `.dead`) when the
   * runbus has a bus (default `true`). Each is one more message per job: turn it off for
   * queues nobody listens to.
   */
  notify?: boolean
  /** Largest encoded job data, in bytes (default 1 MiB). */
  maxPayloadBytes?: number
}

/** The notice published on `work.<queue>.completed`. */
export interface JobCompletedNotice {
  queue: string
  id: string
  attempt: number
  durationMs: number
  /** What the handler resolved with, when it was not `undefined`. */
  result?: unknown
}

/** The notice published on `work.<queue>.failed` (the job will be retried). */
export interface JobFailedNotice {
  queue: string
  id: string
  attempt: number
  error: string
  retryInMs: number
}

/** The notice published on `work.<queue>.dead` (the job went to the dead letters). */
export interface JobDeadNotice {
  queue: string
  id: string
  attempt: number
  reason: string
}
