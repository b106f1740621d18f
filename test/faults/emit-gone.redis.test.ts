/**
 * What an agent sees when its run is gone: a real redis-server SIGKILLed and started again
 * empty under an agent loop that emits and flushes. And after `end()`.
 *
 * The behaviour (docs/redis.md, "When the run is gone"): the handle turns over — `run.signal`
 * aborts with the reason (`RunNotFoundError`, `RunEndedError`), later emits are refused
 * without throwing (counted in `stats.refused`), `flush`/`append`/`end` reject with the
 * reason. The agent's loop is never killed by a throw from `run.text()`.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import {
  BackendUnavailableError,
  RunEndedError,
  RunNotFoundError,
} from '../../src/events/errors.js'
import { createRunbus } from '../../src/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'

describe('emitting after end (memory)', () => {
  it('emits after end() are refused without a throw; run.signal aborts with RunEndedError', async () => {
    const rb = createRunbus()
    try {
      const run = await rb.runs.create()
      run.text('a')
      await run.end()
      expect(run.signal.aborted).toBe(true)
      expect(run.signal.reason).toBeInstanceOf(RunEndedError)
      expect(() => run.text('late')).not.toThrow()
      expect(run.stats.refused).toBe(1)
      await expect(run.append('x')).rejects.toBeInstanceOf(RunEndedError)
      await expect(run.end()).rejects.toBeInstanceOf(RunEndedError)
      expect((await rb.runs.read(run.id)).events.map((e) => e.type)).toEqual(['text', 'end'])
    } finally {
      await rb.close()
    }
  })

  it('a run ended elsewhere: the handle turns over at the first refused batch, run.signal tells the loop', async () => {
    const rb = createRunbus()
    try {
      const run = await rb.runs.create()
      const signal = run.signal
      await (await rb.runs.open(run.id)).end()
      run.text('a')
      await expect(run.flush()).rejects.toBeInstanceOf(RunEndedError)
      expect(signal.aborted).toBe(true)
      expect(signal.reason).toBeInstanceOf(RunEndedError)
      expect(run.over).toBeInstanceOf(RunEndedError)
      expect(() => run.text('b')).not.toThrow()
      expect(run.stats.refused).toBe(1)
    } finally {
      await rb.close()
    }
  })
})

describe.skipIf(!redisAvailable())('emitting when Redis restarted empty (real Redis)', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('an agent loop emitting through a Redis restart keeps running; run.signal aborts with RunNotFoundError', async () => {
    const backend = redisBackend({
      url: redis.url,
      prefix: `t-${randomUUID()}`,
      commandTimeoutMs: 500,
    })
    const rb = createRunbus({ backend })
    try {
      const run = await rb.runs.create()
      const signal = run.signal
      run.text('before')
      await run.flush()
      await redis.kill()
      await redis.start()
      // The agent's loop: emit tokens, flush now and then, stop when run.signal says so.
      const flushErrors: unknown[] = []
      let steps = 0
      let threw: unknown
      try {
        for (; steps < 1_000 && !signal.aborted; steps++) {
          run.text(`token ${steps}`)
          if (steps % 10 === 9) await run.flush().catch((err: unknown) => flushErrors.push(err))
        }
        // Where a loop does not look at the signal: emits still do not throw.
        for (let i = 0; i < 5; i++) run.text('after the end of the loop')
      } catch (err) {
        threw = err
      }
      console.log(
        `[emit after Redis restarted empty] loop steps=${steps} threw=${threw === undefined ? 'no' : (threw as Error).name} ` +
          `signal=${signal.aborted ? (signal.reason as Error).name : 'not aborted'} refused=${run.stats.refused} ` +
          `flush errors=${flushErrors.map((e) => (e as Error).name).join(',')}`,
      )
      expect(threw).toBeUndefined()
      expect(signal.aborted).toBe(true)
      expect(signal.reason).toBeInstanceOf(RunNotFoundError)
      // The flush that learnt it, and none after: the loop stopped at the signal.
      expect(flushErrors.filter((e) => e instanceof RunNotFoundError)).toHaveLength(1)
      for (const e of flushErrors)
        expect(e instanceof RunNotFoundError || e instanceof BackendUnavailableError).toBe(true)
      expect(run.stats.refused).toBe(5)
      expect(run.over).toBeInstanceOf(RunNotFoundError)
      await expect(run.flush()).rejects.toBeInstanceOf(RunNotFoundError)
      await expect(run.append('x')).rejects.toBeInstanceOf(RunNotFoundError)
      await expect(run.end()).rejects.toBeInstanceOf(RunNotFoundError)
    } finally {
      await rb.close()
      await backend.close()
    }
  })
})
