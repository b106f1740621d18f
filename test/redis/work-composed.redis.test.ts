/**
 * The work-queue conformance cases through `redisBackend().work`: the work store composed
 * into the backend, on the backend's own connections (command client, duplicates for
 * blocking reads), released by `backend.close()`.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { runWorkConformance } from '../conformance/work-suite.js'

describe.skipIf(!redisAvailable())('work through redisBackend()', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })
  runWorkConformance(
    'redis backend',
    async () => {
      const backend = redisBackend({ url: redis.url, prefix: `test-${randomUUID()}` })
      return { store: backend.work, cleanup: () => backend.close() }
    },
    { fakeTime: false },
  )
})
