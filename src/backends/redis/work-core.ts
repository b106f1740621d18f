/**
 * The state a Redis work store shares between its parts (adds, claims, settles, admin):
 * the context, the per-queue state (keys, group created, next promote/reclaim passes), the
 * scripts and the blocking connections; and the two guards every call goes through (the
 * command connection ready, the consumer group present).
 */
import { ClosedError } from '../../events/errors.js'
import { mapError, whenReady } from './connection.js'
import type { RedisConnection, RedisContext } from './context.js'
import { BlockingPool } from './blocking.js'
import { GROUP, type WorkKeys, workKeys } from './work-keys.js'
import { type WorkScripts, workScripts } from './work-scripts.js'

/** How often one process sweeps a queue's group for consumers of dead processes. */
const FORGET_EVERY_MS = 60_000
/** A consumer holding nothing and idle this long is forgotten (see work-reclaim). */
const FORGET_IDLE_MS = 10 * 60_000

/** What a store knows of one queue. */
export interface QueueState {
  keys: WorkKeys
  group: Promise<void> | undefined
  nextPromoteAt: number
  nextReclaimAt: number
  reclaimCursor: string
  nextForgetAt: number
}

/** Tuning of the Redis work store (defaults suit production; tests shorten them). */
export interface RedisWorkStoreOptions {
  /** Forget group consumers that hold nothing after this idle time, ms (default 10 min). */
  forgetIdleMs?: number
  /** How often a process sweeps a queue's group for such consumers, ms (default 60 s). */
  forgetEveryMs?: number
}

/** The shared state of one Redis work store. Internal. */
export class WorkCore {
  readonly queues = new Map<string, QueueState>()
  /** Dedicated connections for blocking reads, one per consumer (`queue\0consumer`). */
  readonly blocking: BlockingPool
  closed = false
  readonly s: WorkScripts = workScripts()
  readonly forgetIdleMs: number
  readonly forgetEveryMs: number

  constructor(
    readonly ctx: RedisContext,
    options: RedisWorkStoreOptions,
  ) {
    this.forgetIdleMs = options.forgetIdleMs ?? FORGET_IDLE_MS
    this.forgetEveryMs = options.forgetEveryMs ?? FORGET_EVERY_MS
    this.blocking = new BlockingPool(() => ctx.duplicate(), ctx.commandTimeoutMs)
  }

  /** The command connection; `ClosedError` once the store is closed. */
  get client(): RedisConnection {
    if (this.closed) throw new ClosedError('the work store is closed')
    return this.ctx.client
  }

  /**
   * Waits (at most the command timeout) for the command connection to be ready: runbus's
   * connections run without an offline queue, so a command sent while connecting fails.
   */
  ready(): Promise<void> | undefined {
    const client = this.client
    if (client.status === 'ready') return undefined
    return whenReady(client, this.ctx.commandTimeoutMs)
  }

  /** The state of `queue` (made on first use). */
  q(queue: string): QueueState {
    if (this.closed) throw new ClosedError('the work store is closed')
    let st = this.queues.get(queue)
    if (!st) {
      st = {
        keys: workKeys(this.ctx, queue),
        group: undefined,
        nextPromoteAt: 0,
        nextReclaimAt: 0,
        reclaimCursor: '0-0',
        nextForgetAt: Date.now() + this.forgetEveryMs,
      }
      this.queues.set(queue, st)
    }
    return st
  }

  /** Creates the stream and its group once (MKSTREAM; BUSYGROUP means it exists). */
  ensureGroup(st: QueueState): Promise<void> {
    st.group ??= this.client.xgroup('CREATE', st.keys.stream, GROUP, '0', 'MKSTREAM').then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof Error && err.message.includes('BUSYGROUP')) return
        st.group = undefined
        throw mapError(err, 'XGROUP CREATE')
      },
    )
    return st.group
  }

  /** Runs `fn`; on NOGROUP (the stream was deleted behind our back) recreates and retries once. */
  async withGroup<T>(st: QueueState, what: string, fn: () => Promise<T>): Promise<T> {
    await this.ensureGroup(st)
    try {
      return await fn()
    } catch (err) {
      if (err instanceof Error && err.message.includes('NOGROUP')) {
        st.group = undefined
        await this.ensureGroup(st)
        try {
          return await fn()
        } catch (err2) {
          throw mapError(err2, what)
        }
      }
      throw mapError(err, what)
    }
  }

  /** Drops the blocking connections and forgets the queues. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.blocking.close()
    this.queues.clear()
  }
}
