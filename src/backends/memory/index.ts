/**
 * The memory backend: the whole contract in one process, no server. The embedded default of
 * `createRunbus()`. Nothing survives the process (`durable: false`).
 */
import type { Backend } from '../../contract/contract.js'
import { InvalidArgumentError } from '../../events/errors.js'
import { createMemoryWorkStore } from './work.js'
import { createMemoryRunStore, type MemoryRunLogStore, type MemoryRunStats } from './runs.js'
import { createMemoryBroadcast, type MemoryBroadcast } from './broadcast.js'
import { createMemoryKeyValueStore, type MemoryKeyValueStore } from './kv.js'

export type { MemoryRunStats } from './runs.js'

/**
 * Options of {@link memoryBackend}.
 *
 * @example
 * ```ts
 * memoryBackend({ maxBytes: 64 * 1024 * 1024 })
 * ```
 */
export interface MemoryBackendOptions {
  /**
   * The whole instance's byte budget: retained events, inbox messages, run records and
   * key/value records (asks), estimated from their JSON plus a fixed overhead each. A write
   * past it is refused whole with `InsufficientStorageError` (budget `instance`, 507 over
   * HTTP); a run's `end` is always accepted. Trimming and expiry give bytes back.
   * Default 256 MiB. `Infinity`: no budget.
   */
  maxBytes?: number
}

/** The default of `memoryBackend({ maxBytes })`: 256 MiB. */
const DEFAULT_MEMORY_MAX_BYTES = 256 * 1024 * 1024

/**
 * Counters of a memory backend, for tests and metrics.
 *
 * @example
 * ```ts
 * expect(backend.stats().watchers).toBe(0) // every follower released its watch
 * ```
 */
export interface MemoryBackendStats extends MemoryRunStats {
  /** Active broadcast subscriptions. */
  subscriptions: number
  /** Key/value records stored. */
  kvKeys: number
}

/**
 * A backend that lives in this process.
 *
 * `runs`, `kv` and `broadcast` are the memory stores; `stats()` counts watchers,
 * subscriptions and timers (tests use it to prove everything is released), and
 * `interruptBroadcast()` simulates a dropped pub/sub connection.
 *
 * @example
 * ```ts
 * const backend = memoryBackend()
 * backend.interruptBroadcast() // every subscription's onInterrupted fires
 * ```
 */
export interface MemoryBackend extends Backend {
  readonly runs: MemoryRunLogStore
  readonly broadcast: MemoryBroadcast
  readonly kv: MemoryKeyValueStore
  /** Counters: runs, retained events, trims, watchers, subscriptions, timers, kv keys. */
  stats(): MemoryBackendStats
  /** Calls every broadcast subscriber's `onInterrupted`, as a reconnecting backend would. */
  interruptBroadcast(info?: { since: number; until: number }): void
}

/**
 * Creates an in-process backend: run logs in arrays, broadcast by direct calls, key/value in
 * a map, work queues in memory, all timers unref'd and cleared on `close()`.
 *
 * Use it for a single process (the default of `createRunbus()`), for tests, and as the
 * reference the conformance suite is checked against. Gotchas: nothing survives the
 * process; two instances share nothing (pass one backend to two `createRunbus` calls to
 * simulate two processes on one shared store).
 *
 * @example
 * ```ts
 * const backend = memoryBackend()
 * const rb = createRunbus({ backend })
 * ```
 */
export function memoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  for (const k of Object.keys(options)) {
    if (k !== 'maxBytes')
      throw new InvalidArgumentError(
        `unknown option ${JSON.stringify(k)} of memoryBackend (known: maxBytes)`,
      )
  }
  const max = options.maxBytes ?? DEFAULT_MEMORY_MAX_BYTES
  if (!(max > 0) || (Number.isFinite(max) && !Number.isInteger(max)))
    throw new InvalidArgumentError('maxBytes must be a positive integer or Infinity')
  const meter = { max, used: 0, refused: 0 }
  const runs = createMemoryRunStore(meter)
  const broadcast = createMemoryBroadcast()
  const kv = createMemoryKeyValueStore(meter)
  const work = createMemoryWorkStore()
  let closed = false
  return {
    name: 'memory',
    durable: false,
    runs,
    broadcast,
    kv,
    work,
    async ping() {},
    async close() {
      if (closed) return
      closed = true
      runs.close()
      broadcast.close()
      kv.close()
      await work.close()
    },
    stats() {
      return { ...runs.stats(), subscriptions: broadcast.subscriptions(), kvKeys: kv.size() }
    },
    interruptBroadcast(info) {
      broadcast.interrupt(info)
    },
  }
}
