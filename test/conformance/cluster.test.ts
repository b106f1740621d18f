/**
 * The run-stream, ask and bus conformance cases on a local 3-master Redis Cluster: a run's
 * keys share one hash tag, so they live on one node while runs spread over all three.
 */
import { randomUUID } from 'node:crypto'
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable } from '../helpers/redis-server.js'
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js'
import { remoteAppenders } from '../helpers/remote-appender.js'
import { runConformance } from './suite.js'

describe.skipIf(!redisAvailable())('redis cluster', () => {
  let cluster: TestRedisCluster
  const clients: Cluster[] = []
  const remotes = remoteAppenders('cluster', () =>
    cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
  )
  beforeAll(async () => {
    cluster = await startRedisCluster()
  })
  afterAll(async () => {
    await remotes.stop()
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())))
    await cluster?.stop()
  })

  const connect = () => {
    const client = new Cluster([...cluster.nodes], {
      redisOptions: { commandTimeout: 5000 },
      enableOfflineQueue: true,
    })
    clients.push(client)
    return client
  }

  it('spreads runs over the three masters, each run on one node', async () => {
    const client = connect()
    const backend = redisBackend({ client, prefix: `test-${randomUUID()}` })
    for (let i = 0; i < 30; i++) {
      await backend.runs.createRun({ id: `r${i}`, maxEvents: 10, ts: 1 })
      await backend.runs.append(`r${i}`, [{ type: 'x', data: i, json: String(i), ts: 1 }])
    }
    const perNode = cluster.ports.map((p) => Number(cluster.cli(p, 'dbsize').trim()))
    expect(perNode.every((n) => n > 0)).toBe(true)
    await backend.close()
    expect(client.status).toBe('ready') // a client passed in is not closed
  })

  runConformance(
    'redis cluster',
    async () => {
      const prefix = `test-${randomUUID()}`
      return {
        backend: redisBackend({ client: connect(), prefix, pollMs: 5 }),
        remote: () => remotes.forPrefix(prefix),
      }
    },
    { parts: ['runs', 'asks', 'bus'], remote: true },
  )

  // Declared after the suite, so it runs last: the backends' own connections (the bus
  // subscriber) are gone from every node once the suite closed them.
  it('leaves no runbus connection open on any node', async () => {
    const open = () =>
      cluster.ports.flatMap((p) =>
        cluster
          .cli(p, 'CLIENT', 'LIST')
          .split('\n')
          .filter((l) => / name=runbus:/.test(l)),
      )
    const deadline = Date.now() + 5000
    while (open().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(open()).toEqual([])
  })
})
