/**
 * The whole conformance suite, unchanged, on a real `redis-server` started for this file.
 * Each factory call gets a fresh key prefix, so tests never see each other's keys.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { remoteAppenders } from '../helpers/remote-appender.js'
import { runConformance } from './suite.js'

describe.skipIf(!redisAvailable())('redis', () => {
  let redis: TestRedis
  const remotes = remoteAppenders('redis', () => redis.url)
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await remotes.stop()
    await redis?.stop()
  })
  runConformance(
    'redis',
    async () => {
      const prefix = `test-${randomUUID()}`
      return {
        backend: redisBackend({ url: redis.url, prefix }),
        remote: () => remotes.forPrefix(prefix),
      }
    },
    { remote: true },
  )

  // Declared after the suite, so it runs last: every backend the suite made was closed.
  it('leaves no runbus connection open once every backend was closed', async () => {
    const open = () =>
      redis
        .cli('CLIENT', 'LIST')
        .split('\n')
        .filter((l) => / name=runbus:/.test(l))
    const deadline = Date.now() + 5000
    while (open().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(open()).toEqual([])
  })
})
