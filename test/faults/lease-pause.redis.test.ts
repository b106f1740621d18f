/**
 * `job.extend` while Redis stalls: a real redis-server paused (`CLIENT PAUSE`) for 2.5 s in
 * the middle of a long job that keeps its lease with `job.extend`. Two workers, each on its
 * own backend (its own connections), both eager to take the job over.
 *
 * What must hold: the job never runs twice at the same time. The holder keeps renewing
 * (a renewal that timed out is retried, not forgotten); when it can no longer be sure of its
 * lease it aborts `job.signal` and reports the loss to `onError` before anyone else could
 * have taken the job over.
 */
import { randomUUID } from 'node:crypto'
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisBackend } from '../../src/backends/redis/index.js'
import { LeaseLostError } from '../../src/events/errors.js'
import { createWorkApi } from '../../src/work/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { until } from '../helpers/wait.js'

function cliAsync(port: number, ...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', ['-p', String(port), ...args], { stdio: 'ignore' })
    p.on('error', reject)
    p.on('exit', () => resolve())
  })
}

describe.skipIf(!redisAvailable())('job.extend while Redis is paused (real Redis)', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('a long job with job.extend and Redis paused 2.5 s never runs twice at once', async () => {
    const prefix = `t-${randomUUID()}`
    const VIS = 1_000
    // The command timeout is shorter than the pause: renewals sent during it time out.
    const backends = [0, 1].map(() =>
      redisBackend({ url: redis.url, prefix, commandTimeoutMs: 800 }),
    )
    const apis = backends.map((b) => createWorkApi(b))
    const runs: Array<{ worker: number; attempt: number; start: number; end?: number }> = []
    const errors: unknown[][] = [[], []]
    const handler =
      (w: number) =>
      async (job: { attempt: number; signal: AbortSignal; extend(ms: number): Promise<void> }) => {
        const run: (typeof runs)[number] = { worker: w, attempt: job.attempt, start: Date.now() }
        runs.push(run)
        // A well-behaved long job: keeps its lease for 6 s and stops when told to.
        job.extend(6_000).catch(() => {})
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 4_500)
          job.signal.addEventListener('abort', () => {
            clearTimeout(timer)
            resolve()
          })
        })
        run.end = Date.now()
        if (job.signal.aborted) throw new Error('aborted')
      }
    const qs = apis.map((a) =>
      a.queue<{ n: number }>('long', {
        visibilityTimeout: VIS,
        maxAttempts: 5,
        backoff: { initialMs: 50, maxMs: 100 },
      }),
    )
    try {
      await qs[0].add({ n: 1 }, { id: 'long-1' })
      const w0 = qs[0].process(handler(0), {
        pollInterval: 100,
        onError: (e) => errors[0].push(e),
      })
      await until(() => runs.length === 1, 'the first worker started the job')
      const w1 = qs[1].process(handler(1), {
        pollInterval: 100,
        onError: (e) => errors[1].push(e),
      })
      // Let a renewal or two land, then stall Redis for 2.5 s.
      await new Promise((r) => setTimeout(r, VIS / 2))
      const pausedAt = Date.now()
      await cliAsync(redis.port, 'CLIENT', 'PAUSE', '2500', 'ALL')
      await until(() => Date.now() - pausedAt > 2_600, 'the pause is over', 5_000)
      // Either the first worker kept the job throughout, or it let go and the second took
      // over: wait until the job is done (completed by someone, or dead) and nothing runs.
      await until(
        async () => {
          const s = await qs[0].stats()
          return s.waiting + s.inFlight + s.delayed === 0 && runs.every((r) => r.end !== undefined)
        },
        'the job settled',
        20_000,
      )
      await w0.stop()
      await w1.stop()
      const overlaps: string[] = []
      for (const a of runs)
        for (const b of runs)
          if (a !== b && a.start < b.start && b.start < (a.end ?? Infinity))
            overlaps.push(
              `worker ${a.worker} attempt ${a.attempt} [${a.start}, ${a.end}] overlaps worker ${b.worker} attempt ${b.attempt} [${b.start}, ${b.end}]`,
            )
      console.log(
        `[extend under CLIENT PAUSE 2.5 s] runs=${runs.length} overlapping=${overlaps.length} ` +
          `lease-lost reported=${errors.flat().filter((e) => e instanceof LeaseLostError).length} ` +
          `errors reported=${errors.map((e) => e.length).join('/')}`,
      )
      expect(overlaps).toEqual([])
      // A run that was cut short was told (its signal) and the loss was reported.
      const cut = runs.filter((r) => r.end! - r.start < 4_400)
      if (cut.length > 0) expect(errors[0].some((e) => e instanceof LeaseLostError)).toBe(true)
    } finally {
      await Promise.all(apis.map((a) => a.close()))
      await Promise.all(backends.map((b) => b.close()))
    }
  }, 40_000)
})
