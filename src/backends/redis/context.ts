/**
 * What every piece of the Redis backend shares: the command connection, a way to open
 * dedicated connections for blocking reads, and the key layout.
 *
 * Key layout: `<prefix>:{<run>}:<suffix>` for everything that belongs to a run, so a Redis
 * Cluster keeps a run's keys on one node (the `{…}` hash tag); `<prefix>:{<name>}:<suffix>`
 * for work queues, keyed by queue name the same way.
 */
import type { Cluster, Redis } from 'ioredis'

/** A connection runbus can send commands on: a single node or a Cluster. */
export type RedisConnection = Redis | Cluster

/** Shared by the parts of the Redis backend. */
export interface RedisContext {
  /** Key prefix, default `runbus`. */
  readonly prefix: string
  /** The shared connection for non-blocking commands and pipelines. */
  readonly client: RedisConnection
  /** Opens a dedicated connection (for XREAD/XREADGROUP BLOCK, SUBSCRIBE). The caller closes it. */
  duplicate(): RedisConnection
  /** How long a command may take before it fails with `BackendUnavailableError`. */
  readonly commandTimeoutMs: number
  /** `<prefix>:{<tag>}:<suffix>`; `tag` is a run id or a queue name. */
  key(tag: string, suffix: string): string
}

/** Builds the `key` function of a context. Hash tags must not contain `{` or `}`. */
export function keyBuilder(prefix: string): (tag: string, suffix: string) => string {
  return (tag, suffix) => `${prefix}:{${tag}}:${suffix}`
}
