/**
 * Redis restarted EMPTY under a hub's SSE reader (real redis-server, SIGKILLed, started
 * again on the same port). Before the hub's readers were cursors of the follow engine, the
 * reader of a vanished run got nothing but pings; after the run id was created again it got
 * the new run's events glued after the old ones. Now the stream ends with a `stream_error`
 * frame (`run_not_found`), and `runbus/client` rethrows it as `RunNotFoundError`.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRunbus, RunNotFoundError, type Runbus } from '../../src/index.js'
import { redisBackend, type RedisBackend } from '../../src/backends/redis/index.js'
import { createHub, type Hub } from '../../src/hub/index.js'
import { createClient } from '../../src/client/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { StreamReader } from '../hub/helpers.js'

describe.skipIf(!redisAvailable() && process.env.CI !== 'true')(
  'hub reader: Redis restarted empty',
  () => {
    let redis: TestRedis
    const open: Array<() => Promise<void>> = []
    beforeAll(async () => {
      redis = await startRedis()
    })
    afterEach(async () => {
      for (const close of open.splice(0).reverse()) await close()
    })
    afterAll(async () => {
      await redis?.stop()
    })

    const prefix = `hubreset-${randomUUID()}`
    const make = (): Runbus => {
      const backend: RedisBackend = redisBackend({ url: redis.url, prefix })
      const rb = createRunbus({ backend })
      open.push(async () => {
        await rb.close()
        await backend.close()
      })
      return rb
    }
    const serve = async (rb: Runbus): Promise<{ hub: Hub; url: string }> => {
      const hub = createHub({ runbus: rb, insecure: true })
      const server: Server = createServer(hub.node)
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      open.push(async () => {
        await hub.close()
        server.closeAllConnections()
        await new Promise((r) => server.close(r))
      })
      return { hub, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
    }
    const settle = <T>(p: Promise<T>, ms: number): Promise<T | 'idle'> =>
      Promise.race([p, new Promise<'idle'>((r) => setTimeout(() => r('idle'), ms).unref())])

    it('the run vanished: the SSE stream ends with stream_error run_not_found, not pings', async () => {
      const rb = make()
      const { hub, url } = await serve(rb)
      const run = await rb.runs.create({ id: 'vanish' })
      for (let i = 0; i < 5; i++) run.emit('n', i)
      await run.flush()
      const reader = new StreamReader(`${url}/v1/runs/vanish/events`)
      await reader.until((r) => r.frames.length >= 5, 'five events')
      expect(hub.readers('vanish')).toBe(1)
      await redis.kill()
      await redis.start()
      expect(await settle(reader.done, 20_000)).not.toBe('idle')
      const seqs = reader.frames.filter((f) => f.event === 'n').map((f) => f.data.seq)
      expect(seqs).toEqual([1, 2, 3, 4, 5])
      const last = reader.frames.at(-1)!
      expect(last.event).toBe('stream_error')
      expect(last.data).toMatchObject({ error: { code: 'run_not_found', run: 'vanish' } })
      expect(hub.stats().failedStreams).toBe(1)
    }, 40_000)

    it('the run id was created again: the client gets RunNotFoundError, never the new run glued on', async () => {
      const rb = make()
      const { url } = await serve(rb)
      const run = await rb.runs.create({ id: 'again' })
      for (let i = 0; i < 20; i++) run.emit('old', i)
      await run.flush()
      const client = createClient({ baseUrl: url })
      const follow = client.follow('again')
      const seen: Array<{ seq: number; type: string }> = []
      const done = (async () => {
        try {
          for await (const e of follow) seen.push({ seq: e.seq, type: e.type })
          return undefined
        } catch (err) {
          return err
        }
      })()
      const t0 = Date.now()
      while (seen.length < 20) {
        if (Date.now() - t0 > 10_000) throw new Error('reader did not catch up')
        await new Promise((r) => setTimeout(r, 5))
      }
      await redis.kill()
      await redis.start()
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
      const result = await settle(done, 20_000)
      expect(result).not.toBe('idle')
      expect(seen.every((e) => e.type === 'old')).toBe(true)
      expect(result).toBeInstanceOf(RunNotFoundError)
    }, 60_000)
  },
)
