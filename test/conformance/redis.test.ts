/**
 * The whole conformance suite, unchanged, on a real `redis-server` started for this file.
 * Each factory call gets a fresh key prefix, so tests never see each other's keys.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { runConformance } from './suite.js'

describe.skipIf(!redisAvailable())('redis', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })
  runConformance('redis', async () => ({
    backend: redisBackend({ url: redis.url, prefix: `test-${randomUUID()}` }),
  }))
})
