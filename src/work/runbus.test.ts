import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { InvalidArgumentError } from '../events/errors.js'
import { createRunbus } from '../runbus.js'
import { memoryBackend } from '../backends/memory/index.js'
import type { JobCompletedNotice, JobDeadNotice } from './index.js'

describe('rb.work on createRunbus', () => {
  it('publishes completion notices on the bus, as documented in docs/work.md', async () => {
    const rb = createRunbus({ backend: memoryBackend() })
    const q = rb.work.queue('completions', {
      schema: z.object({ taskId: z.string() }),
      maxAttempts: 1,
    })
    const completed = rb.bus.waitFor<JobCompletedNotice>('work.completions.completed', {
      timeout: 5_000,
    })
    const dead = rb.bus.waitFor<JobDeadNotice>('work.completions.dead', { timeout: 5_000 })
    const worker = q.process(async (job) => {
      if (job.data.taskId === 'bad') throw new Error('cannot finish task bad')
      return { finished: job.data.taskId }
    })
    await q.add({ taskId: 't-1' }, { id: 'op-1' })
    await q.add({ taskId: 'bad' }, { id: 'op-2' })
    const c = await completed
    expect(c.data).toMatchObject({
      queue: 'completions',
      id: 'op-1',
      attempt: 1,
      result: { finished: 't-1' },
    })
    const d = await dead
    expect(d.data).toMatchObject({ id: 'op-2', reason: 'cannot finish task bad' })
    await worker.stop()
    expect(await q.stats()).toMatchObject({ completed: 1, dead: 1 })
    await rb.close()
  })

  it('a transforming schema runs once, at delivery', async () => {
    const rb = createRunbus({ backend: memoryBackend() })
    const q = rb.work.queue('dates', {
      schema: z.object({ at: z.string().transform((s) => new Date(s)) }),
    })
    await expect(q.add({ at: 42 } as unknown as { at: string })).rejects.toThrow(
      /failed validation/,
    )
    await q.add({ at: '2026-01-02T03:04:05.000Z' }) // the schema's input type
    let got: Date | undefined
    const worker = q.process(async (job) => {
      got = job.data.at // the schema's output type
    })
    await rb.bus.waitFor('work.dates.completed', { timeout: 5_000 })
    await worker.stop()
    expect(got).toBeInstanceOf(Date)
    expect(got!.toISOString()).toBe('2026-01-02T03:04:05.000Z')
    await rb.close()
  })

  it('refuses the old back-off names with the new one as a hint', async () => {
    const rb = createRunbus({ backend: memoryBackend() })
    expect(() => rb.work.queue('q1', { backoff: { base: 10, max: 20 } as never })).toThrow(
      InvalidArgumentError,
    )
    expect(() => rb.work.queue('q1', { backoff: { max: 20 } as never })).toThrow(
      /unknown option "max" \(renamed "maxMs"/,
    )
    expect(() => rb.work.queue('q1', { backoff: { initialMs: -1 } })).toThrow(/initialMs/)
    await rb.close()
  })
})
