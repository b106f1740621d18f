/**
 * Work queues (durable, at-least-once): `rb.work.queue(name, options)`. The entry point
 * wires `rb.work` through `createWorkApi`; everything else is built on the backend's
 * `WorkStore`.
 */
import type { Backend } from '../contract/contract.js'
import type { WorkStore } from '../contract/work-contract.js'
import type { SchemaInput, SchemaOutput, StandardSchemaV1 } from '../events/schema.js'
import type { WorkQueueOptions } from './job.js'
import { WorkQueue } from './queue.js'
import type { Worker } from './worker.js'

export type {
  Job,
  JobHandler,
  WorkQueueOptions,
  JobCompletedNotice,
  JobFailedNotice,
  JobDeadNotice,
} from './job.js'
export type { ProcessOptions, StopOptions, Worker, WorkerStats } from './worker.js'
export type { AddOptions, AddItem, AddResult, AddManyResult, DeadLetters } from './queue.js'
export { WorkQueue } from './queue.js'
export {
  backoffDelay,
  DEFAULT_RETRY_BACKOFF,
  type Backoff,
  type BackoffOptions,
} from '../events/jitter.js'
export type { DeadJob, WorkStats } from '../contract/work-contract.js'

/** The work-queue API on a runbus instance (`rb.work`). */
export interface WorkApi {
  /**
   * A handle on the queue `name` (created on first use in the backend). Queue names are
   * 1–200 characters: letters, digits and `_ - :` (and a few more), in dot-separated
   * segments — they appear in the notice channels `work.<queue>.completed` etc.
   *
   * @example
   * ```ts
   * const q = rb.work.queue<{ url: string }>('crawl', { maxAttempts: 3 })
   * ```
   */
  queue<S extends StandardSchemaV1>(
    name: string,
    options: WorkQueueOptions<SchemaOutput<S>> & { schema: S },
  ): WorkQueue<SchemaInput<S>, SchemaOutput<S>>
  /** A handle on the queue `name`, its data typed by `T` only (no runtime check). */
  queue<T = unknown>(name: string, options?: WorkQueueOptions<T>): WorkQueue<T>
}

/** Options shared by every work queue of an instance. */
export interface WorkApiOptions {
  /** Publish completion notices on the bus (`work.<queue>.completed|failed|dead`). */
  publish?: (channel: string, data: unknown) => Promise<void>
  /** Told when a notice could not be published. Default: ignored. */
  onError?: (err: unknown) => void
}

/**
 * @internal Builds `rb.work` over a backend; called by `createRunbus`. `close()` stops every
 * worker still running (abandoning jobs in hand to redelivery: call
 * `worker.stop({ drain: true })` first for a graceful stop).
 */
export function createWorkApi(
  backend: Backend | { work: WorkStore },
  options: WorkApiOptions = {},
): WorkApi & { close(): Promise<void> } {
  const workers = new Set<Worker>()
  const publish = options.publish
  const onError = options.onError ?? (() => {})
  const notify = publish
    ? (channel: string, data: unknown) => {
        try {
          publish(channel, data).catch(onError)
        } catch (err) {
          onError(err)
        }
      }
    : undefined
  const ctx = {
    store: backend.work,
    notify,
    track(worker: Worker) {
      workers.add(worker)
      void worker.stopped.then(() => workers.delete(worker))
    },
  }
  return {
    queue: (name: string, opts: WorkQueueOptions<unknown> = {}) =>
      new WorkQueue<unknown>(name, opts, ctx),
    close: async () => {
      await Promise.all([...workers].map((w) => w.stop({ drain: false })))
    },
  }
}
