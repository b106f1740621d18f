/**
 * A quick reconnect with calls in flight (a real redis-server, `CLIENT KILL` on runbus's
 * command connection). The connection comes back within milliseconds; the calls that were
 * written and not yet answered when it dropped cannot be answered any more. They must fail
 * at once with `BackendUnavailableError` (the caller retries), not sit until
 * `commandTimeoutMs`.
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import { BackendUnavailableError } from '../../src/events/errors.js'
import { createRunbus } from '../../src/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { clientIdByName } from '../redis/helpers.js'
import { until } from '../helpers/wait.js'

/** Resolves with a promise's outcome and when it settled. */
async function timed(p: Promise<unknown>): Promise<{ ok: boolean; err?: unknown; at: number }> {
  try {
    await p
    return { ok: true, at: Date.now() }
  } catch (err) {
    return { ok: false, err, at: Date.now() }
  }
}

describe.skipIf(!redisAvailable())('a quick reconnect with calls in flight (real Redis)', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('CLIENT KILL with 10 flushes in flight: each fails at once, typed, well within commandTimeoutMs; a retry stores everything', async () => {
    const prefix = `t-${randomUUID()}`
    const commandTimeoutMs = 5_000
    const backend = redisBackend({ url: redis.url, prefix, commandTimeoutMs })
    const rb = createRunbus({ backend })
    try {
      const runs = await Promise.all(Array.from({ length: 10 }, () => rb.runs.create()))
      const name = `runbus:cmd:${prefix}`
      const id = clientIdByName(redis, name)
      expect(id).toBeDefined()
      // Admin calls go on a connection of their own, asynchronously: a blocked event loop
      // (spawnSync) would delay the very rejections being timed.
      const admin = new Redis(redis.url)
      try {
        // Hold writes, so the ten flushes are written and wait for their answers.
        await admin.call('CLIENT', 'PAUSE', '4000', 'WRITE')
        for (const [i, run] of runs.entries()) run.emit('n', i)
        const flushes = runs.map((run) => timed(run.flush()))
        await until(
          async () => /\bcmd=evalsha\b/.test(String(await admin.call('CLIENT', 'LIST', 'ID', id!))),
          'the flushes are on the wire',
        )
        await admin.call('CLIENT', 'KILL', 'ID', id!)
        const killedAt = Date.now()
        const outcomes = await Promise.all(flushes)
        const failedAfter = outcomes.map((o) => (o.ok ? -1 : o.at - killedAt))
        const after = [...failedAfter].sort((a, b) => a - b)
        console.log(
          `[CLIENT KILL, 10 flushes in flight] failed=${outcomes.filter((o) => !o.ok).length}/10, ` +
            `time from the kill to the failure: median=${after[5]} ms max=${after[9]} ms ` +
            `(commandTimeoutMs=${commandTimeoutMs})`,
        )
        for (const o of outcomes) {
          expect(o.ok).toBe(false)
          expect(o.err).toBeInstanceOf(BackendUnavailableError)
        }
        expect(Math.max(...failedAfter)).toBeLessThan(commandTimeoutMs / 10)
      } finally {
        await admin.call('CLIENT', 'UNPAUSE')
        admin.disconnect()
      }
      // The connection is back: a retry stores the kept events (at least once).
      await Promise.all(runs.map((run) => run.flush()))
      for (const [i, run] of runs.entries()) {
        const page = await rb.runs.read(run.id)
        expect(page.events.map((e) => e.data)).toContain(i)
      }
    } finally {
      await rb.close()
      await backend.close()
    }
  })
})
