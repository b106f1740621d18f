/**
 * An inbox read failing once (real redis-server). Before: the inbox stopped for good after
 * one failed read (`src/streams/inbox.ts` turned the error into the end of the inbox), so a
 * later `interrupt` never aborted `run.signal`. Now it backs off (full jitter, the one
 * formula of `src/events/jitter.ts`), reads again and goes on; the retries are counted.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BackendUnavailableError, createRunbus, type InboxMessage } from '../../src/index.js'
import { redisBackend } from '../../src/backends/redis/index.js'
import type { Backend, RunLogStore } from '../../src/contract/contract.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'

describe.skipIf(!redisAvailable() && process.env.CI !== 'true')('inbox: a failed read', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('backs off and resumes; a later interrupt still aborts run.signal', async () => {
    const real = redisBackend({ url: redis.url, prefix: `inbox-${randomUUID()}` })
    // The real Redis store, with two faults: the live watch misses message 1 (so message 2
    // shows a hole and the inbox reads the log), and that first read fails.
    // The first read (at start) goes through; the second (the hole) fails once.
    let reads = 0
    const runs: RunLogStore = Object.create(real.runs) as RunLogStore
    runs.readInbox = (run, after, limit) => {
      reads++
      if (reads === 2) {
        return Promise.reject(new BackendUnavailableError('injected: inbox read failed once'))
      }
      return real.runs.readInbox(run, after, limit)
    }
    let dropped = false
    runs.watchInbox = (run, listener) =>
      real.runs.watchInbox(run, {
        onMessages: (messages) => {
          const keep = messages.filter((m) => {
            if (m.seq !== 1 || dropped) return true
            dropped = true
            return false
          })
          if (keep.length > 0) listener.onMessages(keep)
        },
      })
    const backend: Backend = Object.create(real) as Backend
    Object.defineProperty(backend, 'runs', { value: runs })
    const rb = createRunbus({ backend })
    try {
      const run = await rb.runs.create({ id: 'r' })
      const it = run.inbox[Symbol.asyncIterator]()
      await rb.runs.send('r', { type: 'steer', data: 1 }) // missed by the watch
      await rb.runs.send('r', { type: 'steer', data: 2 }) // a hole: read the log (fails once)
      const got: InboxMessage[] = []
      got.push((await it.next()).value as InboxMessage)
      got.push((await it.next()).value as InboxMessage)
      expect(got.map((m) => m.data)).toEqual([1, 2])
      expect(rb.stats().inboxReadRetries).toBe(1)
      await rb.runs.send('r', { type: 'interrupt', data: 'stop' })
      const t0 = Date.now()
      while (!run.signal.aborted && Date.now() - t0 < 10_000) {
        await new Promise((r) => setTimeout(r, 5))
      }
      expect(run.signal.aborted).toBe(true)
      await run.end()
    } finally {
      await rb.close()
      await real.close()
    }
  }, 30_000)
})
