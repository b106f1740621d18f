/**
 * Hung handlers, run against any work store (memory and a real Redis: see the
 * `hung-handlers.*.test.ts` entries). Real time, short leases; every wait is a wait for a
 * condition.
 *
 * What must hold whatever the handlers do:
 * - a worker whose every slot hangs (handlers that never return and ignore their signal)
 *   does not stop the queue: later jobs are processed, and the hung job is dead-lettered at
 *   `maxAttempts`;
 * - a worker never runs two copies of one job at once, even when the job's lease ran out
 *   while its handler still runs;
 * - `jobTimeout` aborts the job's own signal and settles the attempt as failed;
 * - each job has its own signal: aborting one job does not abort the others.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import type { WorkStore } from '../../src/contract/work-contract.js'
import { LeaseLostError, TimeoutError } from '../../src/events/errors.js'
import { createWorkApi, type Job } from '../../src/work/index.js'
import { until } from '../helpers/wait.js'

/** What a backend gives the suite for one test. */
export interface HungHarness {
  /** A store for one worker; each call may open its own connections. */
  store(): WorkStore
  cleanup(): Promise<void>
}

let seq = 0
const fresh = () => `hung${process.pid}-${Date.now().toString(36)}-${++seq}`

/** Counts, per worker, the copies of each job whose handler has started and not returned. */
class Copies {
  readonly running = new Map<string, number>()
  max = 0
  enter(worker: string, id: string): () => void {
    const key = `${worker}/${id}`
    const n = (this.running.get(key) ?? 0) + 1
    this.running.set(key, n)
    this.max = Math.max(this.max, n)
    return () => this.running.set(key, this.running.get(key)! - 1)
  }
}

const never = () => new Promise<never>(() => {})

/** Runs the hung-handler tests against a backend. */
export function runHungHandlerTests(name: string, harness: () => Promise<HungHarness>): void {
  describe(`hung handlers: ${name}`, () => {
    it('a worker with every slot hung (then the other too): 20 later jobs are still processed, the hung jobs are dead-lettered at maxAttempts', async () => {
      const h = await harness()
      const queue = fresh()
      const VIS = 400
      const options = {
        visibilityTimeout: VIS,
        maxAttempts: 2,
        backoff: { initialMs: 20, maxMs: 40 },
      }
      const a = createWorkApi({ work: h.store() })
      const b = createWorkApi({ work: h.store() })
      const producer = createWorkApi({ work: h.store() })
      const copies = new Copies()
      const starts = new Map<string, number>()
      const done = new Set<string>()
      // A job whose id starts with `hang` hangs in every worker, ignoring its signal.
      const handler = (worker: string) => async (job: Job<unknown>) => {
        starts.set(job.id, (starts.get(job.id) ?? 0) + 1)
        const leave = copies.enter(worker, job.id)
        if (job.id.startsWith('hang')) await never()
        await delay(2)
        done.add(job.id)
        leave()
      }
      const q = producer.queue(queue, options)
      try {
        await q.addMany([
          { data: 1, id: 'hang-1' },
          { data: 2, id: 'hang-2' },
        ])
        const wa = a
          .queue(queue, options)
          .process(handler('a'), { concurrency: 2, pollInterval: 50 })
        await until(() => starts.size === 2, 'worker a holds both hung jobs')
        expect(wa.running).toBe(2)
        const wb = b
          .queue(queue, options)
          .process(handler('b'), { concurrency: 2, pollInterval: 50 })
        // The hung jobs' first leases run out; only then do the later jobs arrive.
        await delay(VIS * 2)
        await q.addMany(Array.from({ length: 20 }, (_, n) => ({ data: n, id: `later-${n}` })))
        await until(
          () => Array.from({ length: 20 }, (_, n) => `later-${n}`).every((id) => done.has(id)),
          `all 20 later jobs done (done so far: ${done.size})`,
        )
        await until(async () => (await q.stats()).dead === 2, 'both hung jobs dead-lettered')
        const dead = await q.dead.list()
        expect(dead.map((d) => d.id).sort()).toEqual(['hang-1', 'hang-2'])
        for (const d of dead) expect(d.attempts).toBe(2)
        await until(async () => (await q.stats()).completed === 20, 'the acks landed')
        expect(await q.stats()).toMatchObject({
          waiting: 0,
          inFlight: 0,
          delayed: 0,
          dead: 2,
          completed: 20,
        })
        // Never two copies of one job in one worker (hung copies count: they never return).
        expect(copies.max).toBe(1)
        console.log(
          `[hung ${name}] later jobs done=${done.size}/20, dead=${dead.length}, worker a stats=${JSON.stringify(wa.stats)}, b=${JSON.stringify(wb.stats)}`,
        )
        await wa.stop({ drain: false })
        await wb.stop({ drain: false })
      } finally {
        await a.close()
        await b.close()
        await producer.close()
        await h.cleanup()
      }
    }, 30_000)

    it('a job outliving its lease is never run twice at once by one worker; its signal aborts with LeaseLostError, reported', async () => {
      const h = await harness()
      const queue = fresh()
      const VIS = 300
      const options = {
        visibilityTimeout: VIS,
        maxAttempts: 5,
        backoff: { initialMs: 20, maxMs: 40 },
      }
      const api = createWorkApi({ work: h.store() })
      const copies = new Copies()
      const reasons: unknown[] = []
      const errors: unknown[] = []
      let attempts = 0
      const q = api.queue(queue, options)
      try {
        await q.add('x', { id: 'slow' })
        const w = q.process(
          async (job) => {
            attempts++
            const leave = copies.enter('w', job.id)
            job.signal.addEventListener('abort', () => reasons.push(job.signal.reason))
            // The first attempt ignores its signal and outlives its lease by far.
            if (job.attempt === 1) await delay(VIS * 4)
            leave()
          },
          { concurrency: 3, pollInterval: 30, onError: (e) => errors.push(e) },
        )
        await until(async () => (await q.stats()).completed === 1, 'the job completed')
        await until(() => [...copies.running.values()].every((n) => n === 0), 'no handler runs')
        expect(copies.max).toBe(1)
        expect(reasons[0]).toBeInstanceOf(LeaseLostError)
        expect(errors.some((e) => e instanceof LeaseLostError)).toBe(true)
        expect(attempts).toBeGreaterThanOrEqual(2)
        await w.stop()
      } finally {
        await api.close()
        await h.cleanup()
      }
    }, 30_000)

    it('jobTimeout aborts that job’s signal (TimeoutError) and fails the attempt; other jobs keep their signal', async () => {
      const h = await harness()
      const queue = fresh()
      const options = {
        visibilityTimeout: 5_000,
        maxAttempts: 1,
        jobTimeout: 300,
        backoff: { initialMs: 20, maxMs: 40 },
      }
      const api = createWorkApi({ work: h.store() })
      const signals = new Map<string, AbortSignal>()
      let quickAbortedAtEnd: boolean | undefined
      const q = api.queue<string>(queue, options)
      try {
        await q.add('stuck', { id: 'stuck' })
        const w = q.process(
          async (job) => {
            signals.set(job.id, job.signal)
            // Keeps its lease forever and never returns: only jobTimeout can end it.
            if (job.id === 'stuck') {
              job.extend(60_000).catch(() => {})
              await never()
            }
            // The other job ends as soon as the stuck one was given up.
            await until(() => signals.get('stuck')!.aborted, 'stuck aborted')
            quickAbortedAtEnd = job.signal.aborted
          },
          { concurrency: 2, pollInterval: 30 },
        )
        await until(() => signals.has('stuck'), 'stuck started')
        await delay(100)
        await q.add('quick', { id: 'quick' })
        await until(async () => (await q.stats()).dead === 1, 'the stuck job dead-lettered', 5_000)
        expect(signals.get('stuck')!.aborted).toBe(true)
        expect(signals.get('stuck')!.reason).toBeInstanceOf(TimeoutError)
        await until(async () => (await q.stats()).completed === 1, 'quick completed')
        expect(quickAbortedAtEnd).toBe(false)
        expect(w.stats).toMatchObject({ timedOut: 1, completed: 1, dead: 1 })
        const [dead] = await q.dead.list()
        expect(dead).toMatchObject({ id: 'stuck', attempts: 1 })
        expect(dead.reason).toMatch(/timed out after 300 ms/)
        // Stopping aborts what is still in hand (here nothing but the hung handler).
        await w.stop({ drain: false })
      } finally {
        await api.close()
        await h.cleanup()
      }
    }, 30_000)
  })
}
