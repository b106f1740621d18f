/**
 * A client passed in by the user may speak RESP2 or RESP3, with either reply mapping: the
 * backend works the same on each, and never closes the client it was given.
 */
import { randomUUID } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { until } from '../helpers/wait.js'
import { draft } from '../helpers/draft.js'

const shapes: Array<[string, RedisOptions]> = [
  ['RESP2', { protocol: 2 }],
  ['RESP3 (legacy mapping)', { protocol: 3 }],
  ['RESP3 (resp3 mapping)', { protocol: 3, replyMapping: 'resp3' }],
]

describe.skipIf(!redisAvailable())('redis backend on a client passed in', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it.each(shapes)(
    '%s: runs, follow, list, kv and bus work; the client stays open',
    async (_, opts) => {
      const client = new Redis(redis.url, opts)
      const b = redisBackend({ client, prefix: `test-${randomUUID()}` })
      try {
        await b.runs.createRun({ id: 'r', maxEvents: 10, ts: 1, meta: { m: 1 } })
        const seen: number[] = []
        const inbox: number[] = []
        await b.runs.watch('r', { onEvents: (es) => seen.push(...es.map((e) => e.seq)) })
        await b.runs.watchInbox('r', { onMessages: (ms) => inbox.push(...ms.map((m) => m.seq)) })
        await b.runs.append('r', [draft('a', 1), draft('b', 2)])
        await b.runs.sendInbox('r', draft('steer', 'x'))
        await until(() => seen.length === 2 && inbox.length === 1, 'live events')
        expect(seen).toEqual([1, 2])
        expect((await b.runs.read('r', 0, 10)).events.map((e) => e.data)).toEqual([1, 2])
        expect(await b.runs.getRun('r')).toMatchObject({ lastSeq: 2, meta: { m: 1 } })
        expect((await b.runs.listRuns({ limit: 5 })).map((r) => r.id)).toEqual(['r'])
        expect(await b.kv.setIfAbsent('k', 'v', 1000)).toBe(true)
        expect(await b.kv.get('k')).toBe('v')
        const got: string[] = []
        await b.broadcast.subscribe('a.>', { onMessage: (ch, p) => got.push(`${ch}=${p}`) })
        await b.broadcast.publish('a.b', 'hi')
        expect(got).toEqual(['a.b=hi'])
        await b.ping()
      } finally {
        await b.close()
      }
      expect(client.status).toBe('ready')
      expect(await client.ping()).toBe('PONG')
      client.disconnect()
    },
  )
})
