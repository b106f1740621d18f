import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe } from 'vitest'
import { type RedisBackend, redisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { runHungHandlerTests } from './hung-handlers.js'

describe.skipIf(!redisAvailable())('hung handlers on a real Redis', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })
  // Each worker gets its own backend (its own connections), as if in its own process.
  runHungHandlerTests('redis', async () => {
    const prefix = `t-${randomUUID()}`
    const open: RedisBackend[] = []
    return {
      store: () => {
        const b = redisBackend({ url: redis.url, prefix })
        open.push(b)
        return b.work
      },
      cleanup: async () => {
        await Promise.all(open.map((b) => b.close()))
      },
    }
  })
})
