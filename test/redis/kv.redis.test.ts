import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { freshBackend } from './helpers.js'
import type { RedisBackend } from '../../src/backends/redis/index.js'
import { until } from '../helpers/wait.js'

describe.skipIf(!redisAvailable())('redis kv', () => {
  let redis: TestRedis
  let b: RedisBackend
  beforeAll(async () => {
    redis = await startRedis()
    b = freshBackend(redis)
  })
  afterAll(async () => {
    await b?.close()
    await redis?.stop()
  })

  it('get / set / setIfAbsent / delete, under the prefix', async () => {
    expect(await b.kv.get('k')).toBeUndefined()
    await b.kv.set('k', 'v1')
    expect(await b.kv.get('k')).toBe('v1')
    expect(await b.kv.setIfAbsent('k', 'v2')).toBe(false)
    expect(await b.kv.get('k')).toBe('v1')
    await b.kv.delete('k')
    expect(await b.kv.setIfAbsent('k', 'v3', 60_000)).toBe(true)
    expect(await b.kv.get('k')).toBe('v3')
    expect(redis.cli('GET', `${b.prefix}:kv:k`).trim()).toBe('v3')
  })

  it('expires with the ttl; set-if-absent is atomic across racers', async () => {
    await b.kv.set('t', 'x', 30)
    await until(async () => (await b.kv.get('t')) === undefined, 'expiry')
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => b.kv.setIfAbsent('race', String(i), 60_000)),
    )
    expect(results.filter(Boolean)).toHaveLength(1)
  })
})
