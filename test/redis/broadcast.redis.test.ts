import { beforeAll, describe, expect, it } from 'vitest'
import { redisAvailable, type TestRedis } from '../helpers/redis-server.js'
import { clientIdByName, freshBackend, useRedis, runbusConnections } from './helpers.js'
import { toRedisGlob } from '../../src/backends/redis/patterns.js'
import { until } from '../helpers/wait.js'

describe('toRedisGlob', () => {
  it('maps * and > to a glob that the exact matcher then narrows', () => {
    expect(toRedisGlob('a.*.c')).toBe('a.*.c')
    expect(toRedisGlob('a.>')).toBe('a.*')
    expect(toRedisGlob('a.b')).toBe('a.b')
    expect(toRedisGlob('x?[y]\\')).toBe('x\\?\\[y\\]\\\\')
  })
})

describe.skipIf(!redisAvailable())('redis broadcast', () => {
  const fixture = useRedis()
  const backend = fixture.backend
  let redis: TestRedis
  beforeAll(() => {
    redis = fixture.redis
  })

  it('delivers exactly what runbus patterns match, across backends (processes)', async () => {
    const pub = backend()
    const sub = backend({ prefix: pub.prefix })
    const seen: Record<string, string[]> = { star: [], tail: [], exact: [] }
    await sub.broadcast.subscribe('a.*.c', { onMessage: (ch) => seen.star.push(ch) })
    await sub.broadcast.subscribe('a.>', { onMessage: (ch) => seen.tail.push(ch) })
    await sub.broadcast.subscribe('a.b', { onMessage: (ch) => seen.exact.push(ch) })
    for (const ch of ['a.b.c', 'a.b.x.c', 'a.b', 'a', 'b.b.c', 'a.x.c', 'done']) {
      await pub.broadcast.publish(ch, 'p')
    }
    let done = false
    await sub.broadcast.subscribe('done', { onMessage: () => (done = true) })
    await pub.broadcast.publish('done', '')
    await until(() => done, 'done message')
    expect(seen.star).toEqual(['a.b.c', 'a.x.c'])
    expect(seen.tail).toEqual(['a.b.c', 'a.b.x.c', 'a.b', 'a.x.c'])
    expect(seen.exact).toEqual(['a.b'])
  })

  it('does not leak across prefixes, and unsubscribe stops delivery', async () => {
    const a = backend()
    const b = backend()
    const got: string[] = []
    const stop = await a.broadcast.subscribe('x.>', { onMessage: (_c, p) => got.push(p) })
    await b.broadcast.publish('x.y', 'other-prefix')
    await a.broadcast.publish('x.y', 'mine')
    await until(() => got.length === 1, 'one message')
    stop()
    stop()
    let last = false
    await a.broadcast.subscribe('last', { onMessage: () => (last = true) })
    await a.broadcast.publish('x.y', 'after-unsubscribe')
    await a.broadcast.publish('last', '')
    await until(() => last, 'last')
    expect(got).toEqual(['mine'])
  })

  it('uses one subscriber connection for all subscriptions', async () => {
    const before = runbusConnections(redis).length
    const b = freshBackend(redis)
    const stops = []
    for (let i = 0; i < 20; i++)
      stops.push(await b.broadcast.subscribe(`c${i}.>`, { onMessage: () => {} }))
    expect(runbusConnections(redis).length - before).toBe(2) // command + subscriber
    await b.close()
    await until(() => runbusConnections(redis).length === before, 'connections released')
  })

  it('tells subscribers when the subscriber connection dropped and came back', async () => {
    const b = backend()
    const got: string[] = []
    const interruptions: { since: number; until: number }[] = []
    await b.broadcast.subscribe('k.>', {
      onMessage: (_c, p) => got.push(p),
      onInterrupted: (info) => interruptions.push(info),
    })
    await b.broadcast.publish('k.1', 'before')
    await until(() => got.length === 1, 'before')
    const id = clientIdByName(redis, `runbus:subscriber:${b.prefix}`)
    expect(id).toBeDefined()
    redis.cli('CLIENT', 'KILL', 'ID', id!)
    await until(() => interruptions.length === 1, 'onInterrupted')
    expect(interruptions[0].until).toBeGreaterThanOrEqual(interruptions[0].since)
    // re-subscribed: messages flow again
    await b.broadcast.publish('k.2', 'after')
    await until(() => got.includes('after'), 'after reconnect')
    expect(interruptions).toHaveLength(1)
    expect(b.busStats).toMatchObject({ interruptions: 1, subscriptions: 1 })
  })
})
