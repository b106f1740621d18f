/**
 * Shared bits of the Redis tests: a backend on a fresh prefix, condition waits, and a
 * count of the connections runbus holds (CLIENT LIST by name).
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll } from 'vitest'
import {
  type RedisBackend,
  type RedisBackendOptions,
  redisBackend,
} from '../../src/backends/redis/index.js'
import { startRedis, type TestRedis } from '../helpers/redis-server.js'

/** A backend on a fresh `test-<uuid>` prefix. */
export function freshBackend(redis: TestRedis, opts: RedisBackendOptions = {}): RedisBackend {
  return redisBackend({ url: redis.url, prefix: `test-${randomUUID()}`, ...opts })
}

/**
 * Starts a Redis for the enclosing `describe` and hands out backends on fresh prefixes,
 * all closed (then the server stopped) after the block. `redis` is set once `beforeAll` ran.
 */
export function useRedis(): {
  readonly redis: TestRedis
  backend: (opts?: RedisBackendOptions) => RedisBackend
} {
  let redis: TestRedis | undefined
  const open: RedisBackend[] = []
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await Promise.all(open.map((b) => b.close()))
    await redis?.stop()
  })
  const current = (): TestRedis => {
    if (redis === undefined) throw new Error('useRedis: the server starts in beforeAll')
    return redis
  }
  return {
    get redis() {
      return current()
    },
    backend: (opts = {}) => {
      const b = freshBackend(current(), opts)
      open.push(b)
      return b
    },
  }
}

/** Connections whose name starts with `runbus` (the ones runbus opened), via CLIENT LIST. */
export function runbusConnections(redis: TestRedis): string[] {
  return redis
    .cli('CLIENT', 'LIST')
    .split('\n')
    .filter((l) => /\bname=runbus/.test(l))
}

/** The id of the connection named `name`, or undefined. */
export function clientIdByName(redis: TestRedis, name: string): string | undefined {
  const line = redis
    .cli('CLIENT', 'LIST')
    .split('\n')
    .find((l) => l.includes(` name=${name} `))
  return line ? /\bid=(\d+)/.exec(line)?.[1] : undefined
}
