import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe } from 'vitest'
import { keyBuilder, type RedisContext } from '../../src/backends/redis/context.js'
import { redisBackend } from '../../src/backends/redis/index.js'
import { createRedisWorkStore } from '../../src/backends/redis/work.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { runWorkConformance } from './work-suite.js'

const available = redisAvailable()

describe.skipIf(!available)('work on Redis', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  let n = 0
  runWorkConformance(
    'redis',
    async () => {
      const client = new Redis(redis.url, { commandTimeout: 5_000 })
      const opened: Redis[] = [client]
      const prefix = `t${process.pid}x${++n}`
      const ctx: RedisContext = {
        prefix,
        client,
        commandTimeoutMs: 5_000,
        key: keyBuilder(prefix),
        duplicate: () => {
          const c = client.duplicate()
          opened.push(c)
          return c
        },
      }
      const store = createRedisWorkStore(ctx)
      return {
        store,
        cleanup: async () => {
          await store.close()
          for (const c of opened) c.disconnect()
        },
      }
    },
    { fakeTime: false },
  )

  // The same suite through the Redis backend as users get it (its connections and options:
  // no offline queue, bounded calls).
  runWorkConformance(
    'redisBackend',
    async () => {
      const backend = redisBackend({ url: redis.url, prefix: `tb${process.pid}x${++n}` })
      return { store: backend.work, cleanup: () => backend.close() }
    },
    { fakeTime: false },
  )
})
