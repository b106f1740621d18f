/**
 * Redis work-queue storage: the Redis backend's `WorkStore`, on Streams consumer groups.
 *
 * Layout per queue (hash tag = the queue name, so one Cluster slot holds a queue):
 * - `work:stream` — waiting and in-flight jobs. One consumer group (`runbus`); a claim is
 *   XREADGROUP (new) or XAUTOCLAIM (expired leases). Entry fields: `p` payload; `j` job id
 *   (absent: the job id is the first entry id); `a` attempts made before this entry; `t`
 *   first-seen ms (absent: the entry id's time); `e` last error. Settled entries are
 *   XACKed and trimmed away (XTRIM MINID up to the oldest pending entry); `waiting` is
 *   the group's lag.
 * - `work:delayed` + `work:delayed-data` — delayed jobs and retries in back-off (sorted set
 *   of due times, hash of records), moved to the stream by `work-promote`.
 * - `work:dead` + `work:dead-idx` — dead letters (records by job id, dead-at order).
 * - `work:stats` — counters; `work:released` — entries given back by `release`;
 *   `work:id:<id>` — idempotency keys (SET NX PX).
 *
 * A lease is `<entry id>/<delivery count>/<visibility ms>`. The pending list says who holds
 * an entry and its delivery count; a settle whose consumer or count no longer match is
 * stale (the job was redelivered) and is refused. The hot path is one XADD per job
 * (pipelined), one XREADGROUP per claimed batch, one script (one multi-id XACK) per acked
 * batch.
 */
import type {
  ClaimedJob,
  DeadJob,
  WorkAckResult,
  WorkAddOptions,
  WorkAddResult,
  WorkClaimOptions,
  WorkJobDraft,
  WorkStats,
  WorkStore,
} from '../../contract/work-contract.js'
import type { RedisContext } from './context.js'
import { add } from './work-add.js'
import { deadList, deadPurge, deadRetry, stats } from './work-admin.js'
import { claim } from './work-claims.js'
import { type RedisWorkStoreOptions, WorkCore } from './work-core.js'
import { ack, deadLetter, extend, release, removeConsumer, retry } from './work-settle.js'

export type { RedisWorkStoreOptions } from './work-core.js'

/** Creates the Redis backend's work store over `ctx` (it closes only what it opened). */
export function createRedisWorkStore(
  ctx: RedisContext,
  options: RedisWorkStoreOptions = {},
): WorkStore & { close(): Promise<void> } {
  return new RedisWorkStore(ctx, options)
}

/**
 * The Redis `WorkStore`, composed of its parts: keys (`work-keys.ts`), scripts
 * (`work-scripts.ts`), the lease codec (`work-lease.ts`), the blocking connections
 * (`blocking.ts`), adds, claims, settles and admin. Internal: use `createRedisWorkStore`.
 */
class RedisWorkStore implements WorkStore {
  readonly #core: WorkCore

  constructor(ctx: RedisContext, options: RedisWorkStoreOptions) {
    this.#core = new WorkCore(ctx, options)
  }

  add(queue: string, jobs: WorkJobDraft[], options?: WorkAddOptions): Promise<WorkAddResult> {
    return add(this.#core, queue, jobs, options)
  }

  claim(queue: string, consumer: string, options: WorkClaimOptions): Promise<ClaimedJob[]> {
    return claim(this.#core, queue, consumer, options)
  }

  ack(queue: string, consumer: string, leases: string[]): Promise<WorkAckResult> {
    return ack(this.#core, queue, consumer, leases)
  }

  retry(
    queue: string,
    consumer: string,
    lease: string,
    options: { delayMs: number; error: string },
  ): Promise<void> {
    return retry(this.#core, queue, consumer, lease, options)
  }

  deadLetter(queue: string, consumer: string, lease: string, reason: string): Promise<void> {
    return deadLetter(this.#core, queue, consumer, lease, reason)
  }

  extend(queue: string, consumer: string, lease: string, ms: number): Promise<void> {
    return extend(this.#core, queue, consumer, lease, ms)
  }

  release(queue: string, consumer: string, leases: string[]): Promise<number> {
    return release(this.#core, queue, consumer, leases)
  }

  removeConsumer(queue: string, consumer: string): Promise<void> {
    return removeConsumer(this.#core, queue, consumer)
  }

  deadList(queue: string, options?: { limit?: number }): Promise<DeadJob[]> {
    return deadList(this.#core, queue, options)
  }

  deadRetry(queue: string, ids?: string[]): Promise<number> {
    return deadRetry(this.#core, queue, ids)
  }

  deadPurge(queue: string, ids?: string[]): Promise<number> {
    return deadPurge(this.#core, queue, ids)
  }

  stats(queue: string): Promise<WorkStats> {
    return stats(this.#core, queue)
  }

  close(): Promise<void> {
    this.#core.close()
    return Promise.resolve()
  }
}
