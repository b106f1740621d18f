/**
 * A handle on one named work queue: add jobs, process them, read stats and dead letters.
 * Handles are cheap; the queue itself lives in the backend and is shared by every process
 * that names it.
 */
import type { DeadJob, WorkStats, WorkStore } from '../contract/work-contract.js'
import { encodePayload, DEFAULT_MAX_PAYLOAD_BYTES } from '../events/codec.js'
import { InvalidArgumentError, ValidationError } from '../events/errors.js'
import { DEFAULT_RETRY_BACKOFF, resolveBackoff, type Backoff } from '../events/jitter.js'
import { checkOptions } from '../events/options.js'
import { isStandardSchema, validate } from '../events/schema.js'
import type { JobHandler, WorkQueueOptions } from './job.js'
import { type ProcessOptions, type Worker, WorkerLoop } from './worker.js'

/** Options of `queue.add(data, options)`. */
export interface AddOptions {
  /**
   * Idempotency key: a second add with the same id (within the queue's `idempotencyTtl`,
   * default 24 h) is ignored, even once the first job completed.
   */
  id?: string
  /** Make the job claimable only after this many ms. */
  delay?: number
}

/** One item of `queue.addMany(items)`. */
export interface AddItem<T> extends AddOptions {
  data: T
}

/** What `add` did. */
export interface AddResult {
  id: string
  /** `true` when the id was already known and nothing was added. */
  duplicate: boolean
}

/** What `addMany` did. */
export interface AddManyResult {
  /** Every item's id, in input order. */
  ids: string[]
  /** Ids ignored as duplicates. */
  duplicates: string[]
}

/** The dead letters of a queue. */
export interface DeadLetters {
  /** Dead jobs, oldest first (at most `limit`, default 100). */
  list(options?: { limit?: number }): Promise<DeadJob[]>
  /** Puts dead jobs back to waiting with a fresh attempt count: one id, some, or all. */
  retry(ids?: string | string[]): Promise<number>
  /** Deletes dead jobs: one id, some, or all. Resolves with how many. */
  purge(ids?: string | string[]): Promise<number>
}

/** Internal context a queue shares with its API. */
export interface QueueContext {
  store: WorkStore
  notify: ((channel: string, data: unknown) => void) | undefined
  track(worker: Worker): void
}

/** Dot-separated segments (they become bus channel segments), no braces (a hash tag). */
const QUEUE_NAME = /^[\w:@#$%^&+=!~-]+(\.[\w:@#$%^&+=!~-]+)*$/

/**
 * A work queue (`rb.work.queue(name, options)`): durable, at-least-once delivery. `T` is
 * the data given to `add`, `TOut` what handlers get (they differ when the schema transforms).
 *
 * @example
 * ```ts
 * const q = rb.work.queue<{ to: string }>('emails', { maxAttempts: 3 })
 * await q.add({ to: 'a@example.com' }, { id: 'welcome-42' })
 * const worker = q.process(async (job) => send(job.data), { concurrency: 10 })
 * await worker.stop({ drain: true })
 * ```
 */
export class WorkQueue<T = unknown, TOut = T> {
  /** The dead letters: list, retry, purge. */
  readonly dead: DeadLetters
  private readonly maxAttempts: number
  private readonly visibilityMs: number
  private readonly jobTimeoutMs: number | undefined
  private readonly maxBytes: number
  private readonly backoff: Backoff

  constructor(
    /** The queue's name. */
    readonly name: string,
    private readonly options: WorkQueueOptions<TOut>,
    private readonly ctx: QueueContext,
  ) {
    checkOptions('work.queue', options, {
      schema: ['object', 'function'],
      maxAttempts: 'number',
      visibilityTimeout: 'number',
      jobTimeout: 'number',
      backoff: 'object',
      idempotencyTtl: 'number',
      notify: 'boolean',
      maxPayloadBytes: 'number',
    })
    if (typeof name !== 'string' || name.length > 200 || !QUEUE_NAME.test(name))
      throw new InvalidArgumentError(
        `queue name must be 1–200 letters, digits, _ - : and the like, in dot-separated segments, got ${JSON.stringify(name)}`,
      )
    if (options.schema !== undefined && !isStandardSchema(options.schema))
      throw new InvalidArgumentError('schema must implement Standard Schema v1 (~standard)')
    this.backoff = resolveBackoff('work.queue backoff', options.backoff, DEFAULT_RETRY_BACKOFF)
    this.maxAttempts = positiveInt(options.maxAttempts ?? 5, 'maxAttempts')
    this.visibilityMs = positiveInt(options.visibilityTimeout ?? 30_000, 'visibilityTimeout')
    this.jobTimeoutMs =
      options.jobTimeout === undefined ? undefined : positiveInt(options.jobTimeout, 'jobTimeout')
    this.maxBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES
    const store = ctx.store
    const list = (ids: string | string[] | undefined) =>
      ids === undefined ? undefined : Array.isArray(ids) ? ids : [ids]
    this.dead = {
      list: (o) => store.deadList(name, o),
      retry: (ids) => store.deadRetry(name, list(ids)),
      purge: (ids) => store.deadPurge(name, list(ids)),
    }
  }

  /**
   * Adds one job. Data failing the schema is refused with `ValidationError`; data over the
   * size limit with `PayloadTooLargeError`; `undefined` data with `InvalidArgumentError`
   * (pass `null` for a job without data).
   */
  async add(data: T, options: AddOptions = {}): Promise<AddResult> {
    checkOptions('add', options, { id: 'string', delay: 'number' })
    const r = await this.addMany([{ ...options, data }])
    return { id: r.ids[0], duplicate: r.duplicates.length > 0 }
  }

  /**
   * Adds many jobs in one round trip. All or nothing on validation: when one item fails
   * the schema, none is added. Duplicate ids (also within the batch) are ignored. An item
   * without `data` (`{ i: 1 }` instead of `{ data: { i: 1 } }`) is an
   * `InvalidArgumentError`, and nothing is added.
   */
  async addMany(items: ReadonlyArray<AddItem<T>>): Promise<AddManyResult> {
    const list: unknown = items
    if (!Array.isArray(list)) throw new InvalidArgumentError('addMany takes an array of items')
    items.forEach((item: unknown, i) => {
      // A job without data would be stored as null: the caller's data lost without a word.
      if (typeof item !== 'object' || item === null || Array.isArray(item))
        throw new InvalidArgumentError(`item [${i}] must be an object { data, id?, delay? }`)
      if ((item as { data?: unknown }).data === undefined) {
        throw new InvalidArgumentError(
          `job data [${i}] is undefined: add { data } items (data: null for a job without data)`,
        )
      }
    })
    const drafts = await Promise.all(
      items.map(async (item, i) => {
        const data: unknown = item.data
        if (this.options.schema) {
          // Checked here, applied at delivery: the data is stored as given, so a schema that
          // transforms (a string parsed to a date…) runs once, on the worker's side.
          try {
            await validate(this.options.schema, data, 'job data')
          } catch (err) {
            if (err instanceof ValidationError && items.length > 1)
              throw new ValidationError(err.issues, `job data [${i}]`)
            throw err
          }
        }
        const payload = encodePayload(data, this.maxBytes, 'job data').json
        if (item.id !== undefined && (typeof item.id !== 'string' || item.id.length === 0))
          throw new InvalidArgumentError('a job id must be a non-empty string')
        if (item.delay !== undefined && !(item.delay >= 0))
          throw new InvalidArgumentError(`delay must be ≥ 0, got ${item.delay}`)
        return { payload, id: item.id, delayMs: item.delay }
      }),
    )
    if (drafts.length === 0) return { ids: [], duplicates: [] }
    const opts =
      this.options.idempotencyTtl === undefined
        ? undefined
        : { idempotencyTtlMs: this.options.idempotencyTtl }
    return this.ctx.store.add(this.name, drafts, opts)
  }

  /**
   * Starts a worker that runs `handler` for each job: resolve to acknowledge, throw to
   * retry after back-off (dead-lettered after `maxAttempts`). Stop it with
   * `worker.stop()` or the `signal` option.
   */
  process(handler: JobHandler<TOut>, options: ProcessOptions = {}): Worker {
    checkOptions('process', options, {
      concurrency: 'number',
      signal: 'signal',
      prefetch: 'number',
      pollInterval: 'number',
      consumer: 'string',
      onError: 'function',
    })
    const notify = this.options.notify === false ? undefined : this.ctx.notify
    const worker = new WorkerLoop<TOut>(
      {
        store: this.ctx.store,
        queue: this.name,
        schema: this.options.schema,
        maxAttempts: this.maxAttempts,
        visibilityMs: this.visibilityMs,
        jobTimeoutMs: this.jobTimeoutMs,
        backoff: this.backoff,
        notify,
      },
      handler,
      options,
    )
    this.ctx.track(worker)
    return worker
  }

  /** Exact counts: waiting, inFlight, delayed, dead, completed, failed, redelivered, lateAcks. */
  stats(): Promise<WorkStats> {
    return this.ctx.store.stats(this.name)
  }
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`${what} must be an integer ≥ 1, got ${n}`)
  return n
}
