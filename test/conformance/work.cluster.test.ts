/**
 * The work-queue conformance suite on a local 3-master Redis Cluster: a queue's keys share
 * its name as hash tag, so each queue lives on one node while queues spread over the three.
 */
import { randomUUID } from 'node:crypto'
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js'
import { redisAvailable } from '../helpers/redis-server.js'
import { runWorkConformance } from './work-suite.js'

describe.skipIf(!redisAvailable())('work on a Redis Cluster', () => {
  let cluster: TestRedisCluster
  const clients: Cluster[] = []
  beforeAll(async () => {
    cluster = await startRedisCluster()
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())))
    await cluster?.stop()
  })

  runWorkConformance(
    'redis cluster',
    async () => {
      const client = new Cluster([...cluster.nodes], {
        redisOptions: { commandTimeout: 5000 },
        enableOfflineQueue: true,
      })
      clients.push(client)
      const backend = redisBackend({ client, prefix: `test-${randomUUID()}` })
      return { store: backend.work, cleanup: () => backend.close() }
    },
    { fakeTime: false },
  )
})
