/**
 * `runbus/redis`: the distributed engine. The same backend contract as the in-process
 * default, on Redis (single node or Cluster), so runs, asks, the bus and work queues work
 * across processes and machines.
 *
 * Only this subpath loads `ioredis`; a user of the memory backend never does.
 *
 * @example
 * ```ts
 * import { createRunbus } from 'runbus'
 * import { redisBackend } from 'runbus/redis'
 *
 * const rb = createRunbus({ backend: redisBackend({ url: 'redis://localhost:6379' }) })
 * ```
 */
import { Cluster, Redis } from 'ioredis'
import type { Backend, Broadcast, KeyValueStore, RunLogStore } from '../../contract/contract.js'
import { ClosedError, InvalidArgumentError } from '../../events/errors.js'
import { checkOptions } from '../../events/options.js'
import { bounded, openClient, ownOptions } from './connection.js'
import { keyBuilder, type RedisConnection, type RedisContext } from './context.js'
import { RedisBroadcast, type RedisBusStats } from './broadcast.js'
import { RedisKeyValue } from './kv.js'
import { LogReader, type LogReaderStats } from './log-reader.js'
import { RedisRunLog } from './run-log.js'
import { createRedisWorkStore } from './work.js'

export type { RedisConnection, RedisContext } from './context.js'
export type { LogReaderStats } from './log-reader.js'
export type { RedisBusStats } from './broadcast.js'

/** Options of `redisBackend`. Give `url` or `client` (neither = `redis://127.0.0.1:6379`). */
export interface RedisBackendOptions {
  /** `redis://[user:pass@]host:port[/db]`; runbus opens and closes its own connections. */
  url?: string
  /**
   * An ioredis client (`new Redis(…)` or `new Cluster(…)`) to send commands on. runbus
   * duplicates it for its blocking reader and its subscriber, closes those on `close()`,
   * but never closes `client` itself: it is yours. Its own options (offline queue,
   * retries) apply to the commands sent on it; runbus still bounds every call by
   * `commandTimeoutMs`.
   */
  client?: Redis | Cluster
  /** Prefix of every key and channel. Default `runbus`. Must not contain `{` or `}`. */
  prefix?: string
  /**
   * How long a call may wait for Redis (connecting included) before it fails with
   * `BackendUnavailableError`. Default 5000 ms.
   */
  commandTimeoutMs?: number
  /** How long the shared follower's XREAD blocks per call, ms. Default 5000. */
  blockMs?: number
  /** On Cluster, how often the shared follower polls when idle, ms. Default 25. */
  pollMs?: number
}

/** The Redis backend, with a few extras for operations and tests. */
export interface RedisBackend extends Backend {
  /** The shared follower's counters (reads, reconnects, decode errors, gaps). */
  readonly readerStats: LogReaderStats
  /** The bus's counters (subscriptions, interruptions). */
  readonly busStats: RedisBusStats
  /** The command connection (yours if you passed `client`). */
  readonly client: RedisConnection
  /** The key prefix in use. */
  readonly prefix: string
}

/**
 * Creates the Redis backend. One per process is the intent: it holds one command
 * connection, one blocking reader connection that follows every watched run (opened on
 * the first watch; none on Cluster, which polls) and one subscriber connection for the
 * bus (opened on the first subscribe).
 *
 * Gotchas:
 * - Run ids and the prefix must not contain `{` or `}` (they are the Cluster hash tag).
 * - `close()` does not close a `client` you passed in.
 * - On Cluster the follower polls every `pollMs` instead of blocking (see docs/redis.md).
 * - Every call is bounded by `commandTimeoutMs` and fails with `BackendUnavailableError`.
 *
 * @example
 * ```ts
 * const backend = redisBackend({ url: process.env.REDIS_URL, prefix: 'myapp' })
 * const rb = createRunbus({ backend })
 * // …
 * await rb.close()
 * await backend.close() // a backend you pass to createRunbus is yours to close
 * ```
 */
export function redisBackend(options: RedisBackendOptions = {}): RedisBackend {
  // `{ redis: url }` or a misspelt `uri` must not quietly connect to 127.0.0.1:6379.
  checkOptions('redisBackend', options, {
    url: 'string',
    client: 'object',
    prefix: 'string',
    commandTimeoutMs: 'number',
    blockMs: 'number',
    pollMs: 'number',
  })
  const prefix = options.prefix ?? 'runbus'
  if (prefix.includes('{') || prefix.includes('}') || prefix === '') {
    throw new InvalidArgumentError(`Redis prefix ${JSON.stringify(prefix)} is not allowed`)
  }
  const commandTimeoutMs = options.commandTimeoutMs ?? 5000
  if (!(commandTimeoutMs > 0)) {
    throw new InvalidArgumentError('commandTimeoutMs must be a positive number of ms')
  }
  const owned = options.client === undefined
  const url = options.url ?? 'redis://127.0.0.1:6379'
  // Connection names show up in CLIENT LIST: runbus:<role>:<prefix> (no spaces allowed).
  const tag = prefix.replace(/[^!-~]/g, '_')
  const client: RedisConnection =
    options.client ?? openClient(url, commandTimeoutMs, `runbus:cmd:${tag}`)

  /** A dedicated connection like `client`, with runbus's options for the given role. */
  const open = (role: string, extra: Partial<ReturnType<typeof ownOptions>> = {}) => {
    const opts = { ...ownOptions(commandTimeoutMs, `runbus:${role}:${tag}`), ...extra }
    let conn: RedisConnection
    if (client instanceof Cluster) {
      conn = client.duplicate(undefined, {
        ...opts,
        redisOptions: { ...client.options.redisOptions, ...opts },
      })
    } else if (owned) {
      conn = new Redis(url, opts)
    } else {
      conn = client.duplicate(opts)
    }
    conn.on('error', () => {})
    return conn
  }

  const ctx: RedisContext = {
    prefix,
    client,
    commandTimeoutMs,
    key: keyBuilder(prefix),
    duplicate: () =>
      open('work', {
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        commandTimeout: undefined,
      }),
  }
  const reader = new LogReader({
    client,
    openBlocking: () =>
      open('reader', {
        // The XREAD blocks for blockMs; a client-side guard catches a silently dead socket.
        commandTimeout: undefined,
        blockingTimeout: (options.blockMs ?? 5000) + commandTimeoutMs,
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
      }),
    blockMs: options.blockMs,
    pollMs: options.pollMs,
    commandTimeoutMs,
  })
  const runs = new RedisRunLog(ctx, reader)
  const broadcast = new RedisBroadcast(ctx, () =>
    open('subscriber', { autoResubscribe: false, commandTimeout: undefined }),
  )
  const kv = new RedisKeyValue(ctx)
  const work = createRedisWorkStore(ctx)
  let closed = false
  let closing: Promise<void> | undefined

  const guard = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, p, r) {
        const v: unknown = Reflect.get(t, p, r)
        if (typeof v !== 'function') return v
        return (...args: unknown[]) => {
          if (closed) return Promise.reject(new ClosedError('the Redis backend is closed'))
          return (v as (...a: unknown[]) => unknown).apply(t, args)
        }
      },
    })

  return {
    name: 'redis',
    durable: true,
    runs: guard<RunLogStore>(runs),
    broadcast: guard<Broadcast>(broadcast),
    kv: guard<KeyValueStore>(kv),
    work,
    client,
    prefix,
    get readerStats() {
      return reader.stats
    },
    get busStats() {
      return broadcast.stats()
    },
    async ping() {
      if (closed) throw new ClosedError('the Redis backend is closed')
      await bounded(client, commandTimeoutMs, 'ping', () => client.ping())
    },
    close() {
      closing ??= (async () => {
        closed = true
        await Promise.allSettled([reader.close(), broadcast.close(), work.close()])
        if (owned) {
          try {
            await bounded(client, Math.min(commandTimeoutMs, 1000), 'quit', () => client.quit())
          } catch {
            // Redis is gone; drop the socket instead.
          }
          client.disconnect()
        }
      })()
      return closing
    },
  }
}
