/**
 * Redis restarted EMPTY under a follower (real redis-server, SIGKILLed, started again on
 * the same port with nothing persisted). Before: the follower sat idle forever (no error,
 * no gap, no end); after the run id was created again it joined the two runs. Now, after
 * any reconnect, the follower checks that its run is still the one it followed: gone →
 * `RunNotFoundError`; created again → `RunNotFoundError` (reset), never the new run's events
 * glued after the old ones.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRunbus, RunNotFoundError, type Runbus, type RunEvent } from '../../src/index.js'
import { redisBackend, type RedisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'

describe.skipIf(!redisAvailable() && process.env.CI !== 'true')(
  'follower: Redis restarted empty',
  () => {
    let redis: TestRedis
    const open: Array<{ rb: Runbus; backend: RedisBackend }> = []
    beforeAll(async () => {
      redis = await startRedis()
    })
    afterEach(async () => {
      for (const { rb, backend } of open.splice(0)) {
        await rb.close()
        await backend.close()
      }
    })
    afterAll(async () => {
      await redis?.stop()
    })

    const prefix = `reset-${randomUUID()}`
    const make = () => {
      const backend = redisBackend({ url: redis.url, prefix })
      const rb = createRunbus({ backend })
      open.push({ rb, backend })
      return rb
    }

    /** Reads `f` until it fails or ends; resolves with what it saw and how it ended. */
    const drain = async (f: AsyncIterable<RunEvent>) => {
      const seen: RunEvent[] = []
      try {
        for await (const e of f) seen.push(e)
        return { seen, error: undefined as unknown }
      } catch (error) {
        return { seen, error }
      }
    }

    it('the run vanished: the follower fails with RunNotFoundError instead of idling', async () => {
      const rb = make()
      const run = await rb.runs.create({ id: 'vanish' })
      for (let i = 0; i < 5; i++) run.emit('n', i)
      await run.flush()
      const f = rb.runs.follow('vanish')
      const done = drain(f)
      const t0 = Date.now()
      while (f.stats.delivered < 5) {
        if (Date.now() - t0 > 10_000) throw new Error('follower did not catch up')
        await new Promise((r) => setTimeout(r, 5))
      }
      await redis.kill()
      await redis.start()
      const result = await Promise.race([
        done,
        new Promise<'idle'>((r) => setTimeout(() => r('idle'), 20_000).unref()),
      ])
      expect(result).not.toBe('idle')
      if (result === 'idle') return
      expect(result.seen.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
      expect(result.error).toBeInstanceOf(RunNotFoundError)
    }, 40_000)

    it('the run id was created again: never joins the two runs', async () => {
      const rb = make()
      const run = await rb.runs.create({ id: 'again' })
      for (let i = 0; i < 20; i++) run.emit('old', i)
      await run.flush()
      const f = rb.runs.follow('again')
      const done = drain(f)
      const t0 = Date.now()
      while (f.stats.delivered < 20) {
        if (Date.now() - t0 > 10_000) throw new Error('follower did not catch up')
        await new Promise((r) => setTimeout(r, 5))
      }
      await redis.kill()
      await redis.start()
      // The agent comes back on the empty Redis and creates the run again, then emits more
      // events than the follower had seen.
      const other = make()
      let again: Awaited<ReturnType<typeof other.runs.create>> | undefined
      const t1 = Date.now()
      while (again === undefined) {
        try {
          again = await other.runs.create({ id: 'again' })
        } catch (err) {
          if (Date.now() - t1 > 10_000) throw err
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      for (let i = 0; i < 40; i++) again.emit('new', i)
      await again.flush()
      const result = await Promise.race([
        done,
        new Promise<'idle'>((r) => setTimeout(() => r('idle'), 20_000).unref()),
      ])
      expect(result).not.toBe('idle')
      if (result === 'idle') return
      // Whatever it saw is the old run only, then a typed error: no 'new' event after 'old' ones.
      expect(result.seen.every((e) => e.type === 'old')).toBe(true)
      expect(result.error).toBeInstanceOf(RunNotFoundError)
      // A new follower of the new run sees it whole, from its first event.
      const fresh = rb.runs.follow('again')
      const first = (await fresh.next()).value as RunEvent
      expect(first).toMatchObject({ seq: 1, type: 'new' })
      fresh.close()
    }, 60_000)
  },
)
