/** `rb.runs.follow(run, { waitForRun })` on Redis: a reader that starts before the writer. */
import { describe, expect, it } from 'vitest'
import { createRunbus, RunNotFoundError } from '../../src/index.js'
import { redisAvailable } from '../helpers/redis-server.js'
import { useRedis } from './helpers.js'

describe.skipIf(!redisAvailable())('follow waitForRun on Redis', () => {
  const r = useRedis()

  it('waits for a run created by another instance, then follows it to its end', async () => {
    const backend = r.backend()
    const reader = createRunbus({ backend })
    const writer = createRunbus({ backend })
    try {
      await expect(
        (async () => {
          for await (const _ of reader.runs.follow('absent')) void _
        })(),
      ).rejects.toBeInstanceOf(RunNotFoundError)
      const types: string[] = []
      const reading = (async () => {
        for await (const e of reader.runs.follow('soon', { waitForRun: 10_000 })) types.push(e.type)
      })()
      await new Promise((res) => setTimeout(res, 120))
      const run = await writer.runs.create({ id: 'soon' })
      run.text('hi')
      await run.end({ status: 'completed' })
      await reading
      expect(types).toEqual(['text', 'end'])
      const t0 = Date.now()
      await expect(
        (async () => {
          for await (const _ of reader.runs.follow('never', { waitForRun: 150 })) void _
        })(),
      ).rejects.toBeInstanceOf(RunNotFoundError)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(130)
    } finally {
      await reader.close()
      await writer.close()
    }
  })
})
