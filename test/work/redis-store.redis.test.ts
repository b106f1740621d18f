/**
 * Redis-only behaviour of the work store: entries deleted while pending (XAUTOCLAIM's third
 * element), connections released on stop, and the command count of the hot path.
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyBuilder, type RedisContext } from '../../src/backends/redis/context.js'
import { createRedisWorkStore } from '../../src/backends/redis/work.js'
import { redisBackend } from '../../src/backends/redis/index.js'
import { BackendUnavailableError } from '../../src/events/errors.js'
import { createWorkApi } from '../../src/work/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { until as waitUntil } from '../helpers/wait.js'

const available = redisAvailable()

describe.skipIf(!available)('Redis work store', () => {
  let redis: TestRedis
  let admin: Redis
  beforeAll(async () => {
    redis = await startRedis()
    admin = new Redis(redis.url)
  })
  afterAll(async () => {
    admin?.disconnect()
    await redis?.stop()
  })

  function setup(options: Parameters<typeof createRedisWorkStore>[1] = {}) {
    const prefix = `t-${randomUUID()}`
    const client = new Redis(redis.url, { connectionName: 'worktest-cmd' })
    const opened: Redis[] = [client]
    const ctx: RedisContext = {
      prefix,
      client,
      commandTimeoutMs: 5_000,
      key: keyBuilder(prefix),
      duplicate: () => {
        const c = client.duplicate({ connectionName: 'worktest-blocking' })
        opened.push(c)
        return c
      },
    }
    const store = createRedisWorkStore(ctx, options)
    return {
      prefix,
      ctx,
      store,
      close: async () => {
        await store.close()
        for (const c of opened) c.disconnect()
      },
    }
  }
  const until = (cond: () => boolean | Promise<boolean>, what: string, ms = 10_000) =>
    waitUntil(cond, what, ms, 10)
  const blockingConnections = () =>
    redis
      .cli('CLIENT', 'LIST')
      .split('\n')
      .filter((l) => /\bname=worktest-blocking\b/.test(l)).length

  it('a pending entry deleted behind its back (XAUTOCLAIM deleted ids) is dead-lettered with the reason, not lost silently', async () => {
    const { ctx, store, close } = setup()
    const q = 'trimmed'
    await store.add(q, [{ payload: '"a"' }, { payload: '"b"' }])
    const jobs = await store.claim(q, 'c1', { max: 2, visibilityMs: 100 })
    expect(jobs).toHaveLength(2)
    // Someone trims the stream under the queue (XDEL of a pending entry).
    const entry = jobs[0].lease.split('/')[0]
    await admin.xdel(ctx.key(q, 'work:stream'), entry)
    let got: Awaited<ReturnType<typeof store.claim>> = []
    await until(
      async () => (got = await store.claim(q, 'c2', { max: 10, visibilityMs: 100 })).length > 0,
      'the surviving job is redelivered',
    )
    expect(got.map((j) => j.payload)).toEqual(['"b"'])
    const dead = await store.deadList(q)
    expect(dead).toHaveLength(1)
    expect(dead[0].id).toBe(entry)
    expect(dead[0].reason).toMatch(/deleted while pending/)
    const s = await store.stats(q)
    expect(s).toMatchObject({ dead: 1, inFlight: 1, waiting: 0 })
    expect(Number(await admin.hget(ctx.key(q, 'work:stats'), 'lost'))).toBe(1)
    await close()
  })

  it('a worker closes its blocking connection on stop, and the consumer leaves the group', async () => {
    const { ctx, store, close } = setup()
    const work = createWorkApi({ work: store })
    const q = work.queue<number>('conns')
    const before = blockingConnections()
    const worker = q.process(async () => {}, { pollInterval: 5_000 })
    await q.add(1)
    await until(async () => (await q.stats()).completed === 1, 'processed')
    expect(blockingConnections()).toBe(before + 1)
    const t0 = Date.now()
    await worker.stop()
    // The blocked read was cancelled (CLIENT UNBLOCK), not waited out.
    expect(Date.now() - t0).toBeLessThan(2_000)
    await until(() => blockingConnections() === before, 'blocking connection closed')
    const consumers = (await admin.xinfo(
      'CONSUMERS',
      ctx.key('conns', 'work:stream'),
      'runbus',
    )) as unknown[]
    expect(consumers).toHaveLength(0)
    await work.close()
    await close()
  })

  it('forgets group consumers of dead processes once they hold nothing, never one holding jobs', async () => {
    const { ctx, store, close } = setup({ forgetIdleMs: 100, forgetEveryMs: 50 })
    const q = 'ghosts'
    await store.add(q, [{ payload: '1' }, { payload: '2' }])
    // Two processes that died: one after finishing its job, one holding a job.
    const [a] = await store.claim(q, 'ghost-done', { max: 1, visibilityMs: 60_000 })
    await store.ack(q, 'ghost-done', [a.lease])
    await store.claim(q, 'ghost-holding', { max: 1, visibilityMs: 60_000 })
    const names = async () =>
      ((await admin.xinfo('CONSUMERS', ctx.key(q, 'work:stream'), 'runbus')) as string[][])
        .map((c) => c[c.indexOf('name') + 1])
        .sort()
    expect(await names()).toEqual(['ghost-done', 'ghost-holding'])
    await until(async () => {
      await store.claim(q, 'live', { max: 1, visibilityMs: 60_000 })
      return !(await names()).includes('ghost-done')
    }, 'the idle consumer holding nothing is forgotten')
    expect(await names()).toContain('ghost-holding')
    expect((await store.stats(q)).inFlight).toBe(1)
    await close()
  })

  it('a worker on redisBackend rides out a Redis crash: reports it, backs off, resumes after the restart', async () => {
    // Its own server: this test kills it.
    const own = await startRedis()
    const backend = redisBackend({
      url: own.url,
      prefix: `t-${randomUUID()}`,
      commandTimeoutMs: 500,
    })
    const errors: unknown[] = []
    const work = createWorkApi(backend)
    const q = work.queue<number>('crash', { visibilityTimeout: 1_000 })
    const done: number[] = []
    const worker = q.process(
      async (job) => {
        done.push(job.data)
      },
      { pollInterval: 200, onError: (e) => errors.push(e) },
    )
    await q.add(1)
    await until(() => done.length === 1, 'first job')
    await own.kill()
    await until(() => errors.length > 0, 'the outage is reported', 5_000)
    expect(errors[0]).toBeInstanceOf(BackendUnavailableError)
    expect(worker.stats.errors).toBeGreaterThan(0)
    await own.start() // empty: nothing was persisted
    await until(
      async () => {
        try {
          await q.add(2)
          return true
        } catch {
          return false
        }
      },
      'adds work again',
      10_000,
    )
    await until(() => done.includes(2), 'the worker resumed', 10_000)
    const t0 = Date.now()
    await worker.stop()
    expect(Date.now() - t0).toBeLessThan(2_000)
    await work.close()
    await backend.close()
    await own.stop()
  }, 30_000)

  it('the hot path stays within a few commands per job (batched reads and acks)', async () => {
    const { store, close } = setup()
    const work = createWorkApi({ work: store })
    const q = work.queue<number>('hot')
    const N = 2_000
    await admin.config('RESETSTAT')
    await q.addMany(Array.from({ length: N }, (_, i) => ({ data: i })))
    const worker = q.process(async () => {}, { concurrency: 50 })
    await until(async () => (await store.stats('hot')).completed === N, 'all done')
    await worker.stop()
    const info = await admin.info('commandstats')
    let calls = 0
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      if (m[1] !== 'info' && m[1] !== 'config') calls += Number(m[2])
    const perJob = calls / N
    console.log(
      `[work commands] ${perJob.toFixed(2)} Redis commands per job (add + claim + ack, c=50)`,
    )
    // 1 XADD per job, plus batched reads/acks (~5 commands per batch) and stats polling.
    expect(perJob).toBeLessThan(2)
    await work.close()
    await close()
  })
})
