/**
 * The work-queue conformance suite: what every backend's `WorkStore` (and the work API on
 * top of it) must do. Run it with `runWorkConformance(name, factory)`.
 *
 * Time: a backend with `fakeTime` (memory) is driven by vitest fake timers, deterministic;
 * one without (Redis) runs on real time with short timeouts, and every positive wait is a
 * wait for a condition, never a fixed sleep that hopes something happened.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import type { WorkStore } from '../../src/contract/work-contract.js'
import { LeaseLostError, ValidationError } from '../../src/events/errors.js'
import { createWorkApi, type Job } from '../../src/work/index.js'

/** What a backend gives the suite for one test. */
export interface WorkHarness {
  store: WorkStore
  cleanup?: () => Promise<void>
}

/** Options of the suite. */
export interface WorkConformanceOptions {
  /** The backend reads time from `Date.now()`/`setTimeout`: drive it with fake timers. */
  fakeTime: boolean
}

let queueSeq = 0
const fresh = () => `q${process.pid}-${Date.now().toString(36)}-${++queueSeq}`

/** Runs the work-queue conformance suite against a backend. */
export function runWorkConformance(
  name: string,
  factory: () => Promise<WorkHarness>,
  options: WorkConformanceOptions,
): void {
  describe(`work conformance: ${name}`, () => {
    let h: WorkHarness
    let store: WorkStore
    const fake = options.fakeTime
    // Real-time backends use short leases; fake-time ones can use realistic ones.
    const V = fake ? 30_000 : 300

    /** Lets `ms` pass: fake timers advance; real time really waits. */
    const pass = async (ms: number) => {
      if (fake) await vi.advanceTimersByTimeAsync(ms)
      else await new Promise((r) => setTimeout(r, ms))
    }
    /** Waits for `cond` (polling), failing after `timeoutMs` of (virtual) time. */
    const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 10_000) => {
      const step = fake ? 50 : 10
      for (let t = 0; t <= timeoutMs; t += step) {
        if (await cond()) return
        await pass(step)
      }
      throw new Error(`condition not met within ${timeoutMs} ms`)
    }
    /** Awaits `p`, advancing fake time while it is pending. */
    const settle = async <T>(p: Promise<T>): Promise<T> => {
      if (!fake) return p
      let done = false
      p.then(
        () => (done = true),
        () => (done = true),
      )
      await until(() => done)
      return p
    }
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
    const claimOne = async (q: string, consumer: string, vis = V) => {
      const got = await store.claim(q, consumer, { max: 1, visibilityMs: vis })
      return got[0]
    }

    beforeEach(async () => {
      if (fake) vi.useFakeTimers()
      h = await factory()
      store = h.store
    })
    afterEach(async () => {
      await h.cleanup?.()
      if (fake) vi.useRealTimers()
    })

    describe('store', () => {
      it('adds, claims in order, acks; stats are exact at every step', async () => {
        const q = fresh()
        const added = await store.add(q, [
          { payload: '"a"' },
          { payload: '"b"' },
          { payload: '"c"' },
        ])
        expect(added.ids).toHaveLength(3)
        expect(new Set(added.ids).size).toBe(3)
        expect(added.duplicates).toEqual([])
        expect(await store.stats(q)).toMatchObject({ waiting: 3, inFlight: 0, completed: 0 })

        const jobs = await store.claim(q, 'c1', { max: 2, visibilityMs: V })
        expect(jobs.map((j) => j.payload)).toEqual(['"a"', '"b"'])
        expect(jobs.map((j) => j.id)).toEqual(added.ids.slice(0, 2))
        expect(jobs[0]).toMatchObject({ attempt: 1, redelivered: false })
        expect(jobs[0].firstSeenAt).toBeGreaterThan(0)
        expect(await store.stats(q)).toMatchObject({ waiting: 1, inFlight: 2 })

        const res = await store.ack(
          q,
          'c1',
          jobs.map((j) => j.lease),
        )
        expect(res).toEqual({ acked: 2, late: [] })
        expect(await store.stats(q)).toEqual({
          waiting: 1,
          inFlight: 0,
          delayed: 0,
          dead: 0,
          completed: 2,
          failed: 0,
          redelivered: 0,
          lateAcks: 0,
        })
        // An ack repeated for a settled job is refused as late: nothing happens twice.
        expect((await store.ack(q, 'c1', [jobs[0].lease])).late).toEqual([jobs[0].lease])
      })

      it('ignores a second add with the same id (across calls and within a batch)', async () => {
        const q = fresh()
        const a = await store.add(q, [
          { id: 'job-1', payload: '1' },
          { id: 'job-2', payload: '2' },
          { id: 'job-1', payload: 'dup-in-batch' },
        ])
        expect(a.ids).toEqual(['job-1', 'job-2', 'job-1'])
        expect(a.duplicates).toEqual(['job-1'])
        const b = await store.add(q, [{ id: 'job-2', payload: 'again' }])
        expect(b).toEqual({ ids: ['job-2'], duplicates: ['job-2'] })
        // Still ignored after the first one completed.
        const jobs = await store.claim(q, 'c', { max: 10, visibilityMs: V })
        expect(jobs.map((j) => [j.id, j.payload])).toEqual([
          ['job-1', '1'],
          ['job-2', '2'],
        ])
        await store.ack(
          q,
          'c',
          jobs.map((j) => j.lease),
        )
        expect((await store.add(q, [{ id: 'job-1', payload: 'x' }])).duplicates).toEqual(['job-1'])
        expect(await store.stats(q)).toMatchObject({ waiting: 0, completed: 2 })
      })

      it('forgets ids after the idempotency TTL', async () => {
        const q = fresh()
        const ttl = fake ? 60_000 : 200
        await store.add(q, [{ id: 'k', payload: '1' }], { idempotencyTtlMs: ttl })
        expect(
          (await store.add(q, [{ id: 'k', payload: '2' }], { idempotencyTtlMs: ttl })).duplicates,
        ).toEqual(['k'])
        await pass(ttl + 50)
        expect(
          (await store.add(q, [{ id: 'k', payload: '3' }], { idempotencyTtlMs: ttl })).duplicates,
        ).toEqual([])
        expect((await store.stats(q)).waiting).toBe(2)
      })

      it('keeps a delayed job until its time, then hands it out', async () => {
        const q = fresh()
        const delay = fake ? 5_000 : 400
        const t0 = Date.now()
        await store.add(q, [{ payload: '"later"', delayMs: delay }, { payload: '"now"' }])
        expect(await store.stats(q)).toMatchObject({ waiting: 1, delayed: 1 })
        const first = await store.claim(q, 'c', { max: 10, visibilityMs: 60_000 })
        expect(first.map((j) => j.payload)).toEqual(['"now"'])
        // A blocking claim wakes for the delayed job once it is due, not before.
        const later = await settle(
          store.claim(q, 'c', { max: 10, visibilityMs: 60_000, blockMs: delay * 5 }),
        )
        expect(later.map((j) => j.payload)).toEqual(['"later"'])
        expect(Date.now() - t0).toBeGreaterThanOrEqual(delay - 5)
        expect(await store.stats(q)).toMatchObject({ waiting: 0, delayed: 0, inFlight: 2 })
      })

      it('redelivers a job whose lease expired, with attempt + 1, and refuses the late ack', async () => {
        const q = fresh()
        await store.add(q, [{ payload: '"x"' }])
        const first = await claimOne(q, 'slow')
        expect(first.attempt).toBe(1)
        // Before the lease runs out nobody else gets it.
        expect(await store.claim(q, 'other', { max: 1, visibilityMs: V })).toEqual([])
        let second: Awaited<ReturnType<typeof claimOne>> | undefined
        await until(async () => (second = await claimOne(q, 'other')) !== undefined, V * 20)
        expect(second).toMatchObject({ id: first.id, attempt: 2, redelivered: true })
        expect(second!.lease).not.toBe(first.lease)

        // The first holder's late ack is refused and counted; the job stays with `other`.
        const late = await store.ack(q, 'slow', [first.lease])
        expect(late).toEqual({ acked: 0, late: [first.lease] })
        await expect(
          store.retry(q, 'slow', first.lease, { delayMs: 0, error: 'x' }),
        ).rejects.toBeInstanceOf(LeaseLostError)
        await expect(store.deadLetter(q, 'slow', first.lease, 'x')).rejects.toBeInstanceOf(
          LeaseLostError,
        )
        await expect(store.extend(q, 'slow', first.lease, V)).rejects.toBeInstanceOf(LeaseLostError)
        expect(await store.stats(q)).toMatchObject({
          inFlight: 1,
          redelivered: 1,
          lateAcks: 4,
          completed: 0,
        })
        expect(await store.ack(q, 'other', [second!.lease])).toEqual({ acked: 1, late: [] })
        expect(await store.stats(q)).toMatchObject({ inFlight: 0, completed: 1 })
      })

      it('the same consumer re-claiming its expired job gets a new lease; the old one is late', async () => {
        const q = fresh()
        await store.add(q, [{ payload: '1' }])
        const a = await claimOne(q, 'c')
        let b: Awaited<ReturnType<typeof claimOne>> | undefined
        await until(async () => (b = await claimOne(q, 'c')) !== undefined, V * 20)
        expect(b!.attempt).toBe(2)
        expect((await store.ack(q, 'c', [a.lease])).late).toEqual([a.lease])
        expect((await store.ack(q, 'c', [b!.lease])).acked).toBe(1)
      })

      it('extend keeps the job from being redelivered', async () => {
        const q = fresh()
        await store.add(q, [{ payload: '1' }])
        const job = await claimOne(q, 'c')
        const t0 = Date.now()
        await pass(V * 0.6)
        await store.extend(q, 'c', job.lease, V)
        await pass(V * 0.6)
        // 1.2 V after the claim: without the extend it would be redelivered now.
        expect(Date.now() - t0).toBeGreaterThan(V)
        expect(await store.claim(q, 'other', { max: 1, visibilityMs: V })).toEqual([])
        await until(async () => (await claimOne(q, 'other')) !== undefined, V * 20)
        expect(Date.now() - t0).toBeGreaterThanOrEqual(V * 1.6 - 5)
      })

      it('retry puts the job back after its delay with its last error and attempt count', async () => {
        const q = fresh()
        await store.add(q, [{ id: 'r', payload: '1' }])
        const a = await claimOne(q, 'c')
        const delayMs = fake ? 2_000 : 200
        await store.retry(q, 'c', a.lease, { delayMs, error: 'boom' })
        expect(await store.stats(q)).toMatchObject({ inFlight: 0, delayed: 1, failed: 1 })
        expect(await store.claim(q, 'c', { max: 1, visibilityMs: V })).toEqual([])
        const [b] = await settle(
          store.claim(q, 'c', { max: 1, visibilityMs: V, blockMs: delayMs * 10 }),
        )
        expect(b).toMatchObject({
          id: 'r',
          payload: '1',
          attempt: 2,
          lastError: 'boom',
          firstSeenAt: a.firstSeenAt,
        })
        // A retry without delay is claimable at once.
        await store.retry(q, 'c', b.lease, { delayMs: 0, error: 'again' })
        const c = await claimOne(q, 'c')
        expect(c).toMatchObject({ id: 'r', attempt: 3, lastError: 'again' })
      })

      it('dead letters: list with the reason, retry from scratch, purge', async () => {
        const q = fresh()
        await store.add(q, [
          { id: 'd1', payload: '1' },
          { id: 'd2', payload: '2' },
        ])
        const [j1, j2] = await store.claim(q, 'c', { max: 2, visibilityMs: V })
        await store.deadLetter(q, 'c', j1.lease, 'bad one')
        await store.deadLetter(q, 'c', j2.lease, 'bad two')
        expect(await store.stats(q)).toMatchObject({ dead: 2, inFlight: 0, failed: 2 })
        const dead = await store.deadList(q)
        expect(dead.map((d) => [d.id, d.payload, d.reason, d.attempts])).toEqual([
          ['d1', '1', 'bad one', 1],
          ['d2', '2', 'bad two', 1],
        ])
        expect(dead[0].deadAt).toBeGreaterThanOrEqual(dead[0].firstSeenAt)
        expect(await store.deadList(q, { limit: 1 })).toHaveLength(1)

        expect(await store.deadRetry(q, ['d1', 'nope'])).toBe(1)
        const again = await claimOne(q, 'c')
        expect(again).toMatchObject({ id: 'd1', payload: '1', attempt: 1 })
        expect(await store.deadPurge(q)).toBe(1)
        expect(await store.stats(q)).toMatchObject({ dead: 0, inFlight: 1 })
        expect(await store.deadList(q)).toEqual([])
      })

      it('a job whose lease keeps expiring is dead-lettered after maxAttempts', async () => {
        const q = fresh()
        await store.add(q, [{ id: 'crasher', payload: '1' }])
        const opts = { max: 1, visibilityMs: V, maxAttempts: 2 }
        expect((await store.claim(q, 'a', opts))[0].attempt).toBe(1)
        let b: Awaited<ReturnType<typeof claimOne>> | undefined
        await until(async () => (b = (await store.claim(q, 'b', opts))[0]) !== undefined, V * 20)
        expect(b!.attempt).toBe(2)
        // Expired leases are noticed by claimers: keep one claiming.
        await until(async () => {
          expect(await store.claim(q, 'c', opts)).toEqual([])
          return (await store.stats(q)).dead === 1
        }, V * 20)
        const [dead] = await store.deadList(q)
        expect(dead.id).toBe('crasher')
        expect(dead.reason).toMatch(/lease expired/)
        expect(await store.stats(q)).toMatchObject({ inFlight: 0, waiting: 0, dead: 1 })
      })

      it('release gives a job back at once without counting an attempt', async () => {
        const q = fresh()
        await store.add(q, [{ payload: '1' }, { payload: '2' }])
        const jobs = await store.claim(q, 'c', { max: 2, visibilityMs: V })
        expect(
          await store.release(
            q,
            'c',
            jobs.map((j) => j.lease),
          ),
        ).toBe(2)
        const again = await store.claim(q, 'd', { max: 2, visibilityMs: V })
        expect(again.map((j) => [j.payload, j.attempt])).toEqual([
          ['1', 1],
          ['2', 1],
        ])
        expect((await store.ack(q, 'c', [jobs[0].lease])).late).toHaveLength(1)
      })

      it('a blocking claim wakes when a job is added, and a signal ends it early', async () => {
        const q = fresh()
        const waiting = store.claim(q, 'c', { max: 1, visibilityMs: V, blockMs: 5_000 })
        await pass(20)
        await store.add(q, [{ payload: '"wake"' }])
        expect((await settle(waiting)).map((j) => j.payload)).toEqual(['"wake"'])

        const ac = new AbortController()
        const t0 = Date.now()
        const blocked = store.claim(q, 'c', {
          max: 1,
          visibilityMs: V,
          blockMs: 60_000,
          signal: ac.signal,
        })
        await pass(20)
        ac.abort()
        expect(await settle(blocked)).toEqual([])
        expect(Date.now() - t0).toBeLessThan(5_000)
      })
    })

    describe('work API', () => {
      const api = (publish?: (channel: string, data: unknown) => Promise<void>) =>
        createWorkApi({ work: store }, publish ? { publish } : {})

      it('processes and acknowledges; publishes completion notices', async () => {
        const notices: Array<[string, unknown]> = []
        const work = api(async (c, d) => {
          notices.push([c, d])
        })
        const q = work.queue<{ n: number }>(fresh(), { visibilityTimeout: V })
        await q.addMany([{ data: { n: 1 } }, { data: { n: 2 }, id: 'two' }, { data: { n: 3 } }])
        const seen: number[] = []
        const worker = q.process(
          async (job) => {
            seen.push(job.data.n)
            return job.data.n * 10
          },
          { concurrency: 2, pollInterval: 50 },
        )
        await until(async () => (await q.stats()).completed === 3)
        await settle(worker.stop())
        expect(seen.sort()).toEqual([1, 2, 3])
        expect(worker.stats).toMatchObject({ completed: 3, failed: 0 })
        const completed = notices.filter(([c]) => c === `work.${q.name}.completed`)
        expect(completed).toHaveLength(3)
        expect(completed.map(([, d]) => (d as { result: number }).result).sort()).toEqual([
          10, 20, 30,
        ])
        expect(await q.stats()).toMatchObject({ waiting: 0, inFlight: 0, completed: 3 })
        await settle(work.close())
      })

      it('retries with back-off, then dead-letters after maxAttempts with the last error', async () => {
        const notices: string[] = []
        const waits: number[] = []
        const work = api(async (c, d) => {
          notices.push(c.split('.').pop()!)
          if (c.endsWith('.failed')) waits.push((d as { retryInMs: number }).retryInMs)
        })
        const base = fake ? 1_000 : 20
        const q = work.queue<string>(fresh(), {
          maxAttempts: 3,
          visibilityTimeout: V,
          backoff: { initialMs: base, maxMs: base * 4 },
        })
        await q.add('poison', { id: 'p' })
        const attempts: Array<{ attempt: number; lastError?: string; at: number }> = []
        const worker = q.process(
          async (job: Job<string>) => {
            attempts.push({ attempt: job.attempt, lastError: job.lastError, at: Date.now() })
            throw new Error(`fail #${job.attempt}`)
          },
          { pollInterval: 50 },
        )
        await until(async () => (await q.stats()).dead === 1)
        await settle(worker.stop())
        expect(attempts.map((a) => [a.attempt, a.lastError])).toEqual([
          [1, undefined],
          [2, 'fail #1'],
          [3, 'fail #2'],
        ])
        const [dead] = await q.dead.list()
        expect(dead).toMatchObject({ id: 'p', reason: 'fail #3', attempts: 3 })
        expect(JSON.parse(dead.payload)).toBe('poison')
        expect(await q.stats()).toMatchObject({ failed: 3, dead: 1, completed: 0, inFlight: 0 })
        expect(notices).toEqual(['failed', 'failed', 'dead'])
        // Back-off: attempt n waits up to base · 2^(n-1) (full jitter), and the next attempt
        // does not start before that wait is over.
        expect(waits).toHaveLength(2)
        waits.forEach((w, i) => {
          expect(w).toBeGreaterThanOrEqual(0)
          expect(w).toBeLessThanOrEqual(base * 2 ** i)
          expect(attempts[i + 1].at - attempts[i].at).toBeGreaterThanOrEqual(w - 5)
        })
        expect(worker.stats).toMatchObject({ failed: 3, dead: 1 })

        // Retrying from the dead letters starts over at attempt 1.
        expect(await q.dead.retry('p')).toBe(1)
        const w2 = q.process(async () => {}, { pollInterval: 50 })
        await until(async () => (await q.stats()).completed === 1)
        await settle(w2.stop())
        expect(await q.stats()).toMatchObject({ dead: 0, completed: 1 })
        await settle(work.close())
      })

      it('a second add with the same id is ignored', async () => {
        const work = api()
        const q = work.queue<string>(fresh())
        expect(await q.add('a', { id: 'same' })).toEqual({ id: 'same', duplicate: false })
        expect(await q.add('b', { id: 'same' })).toEqual({ id: 'same', duplicate: true })
        expect((await q.stats()).waiting).toBe(1)
        await settle(work.close())
      })

      it('refuses data failing the schema at add, all or nothing', async () => {
        const work = api()
        const q = work.queue(fresh(), { schema: z.object({ n: z.number() }) })
        await expect(q.add({ n: 'one' } as unknown as { n: number })).rejects.toBeInstanceOf(
          ValidationError,
        )
        await expect(
          q.addMany([{ data: { n: 1 } }, { data: { n: 'x' } as unknown as { n: number } }]),
        ).rejects.toThrow(/job data \[1\] failed validation/)
        expect((await q.stats()).waiting).toBe(0)
        await q.add({ n: 1 })
        expect((await q.stats()).waiting).toBe(1)
        await settle(work.close())
      })

      it('dead-letters an undecodable or invalid payload with the reason, never drops it', async () => {
        const notices: Array<[string, unknown]> = []
        const work = api(async (c, d) => {
          notices.push([c, d])
        })
        const name = fresh()
        const q = work.queue(name, { schema: z.object({ n: z.number() }), visibilityTimeout: V })
        // Written by a foreign producer straight into the store.
        await store.add(name, [
          { id: 'garbled', payload: '{not json' },
          { id: 'wrong-shape', payload: '{"n":"x"}' },
          { id: 'fine', payload: '{"n":1}' },
        ])
        const handled: string[] = []
        const worker = q.process(
          async (job) => {
            handled.push(job.id)
          },
          { concurrency: 3, pollInterval: 50 },
        )
        await until(async () => {
          const s = await q.stats()
          return s.dead === 2 && s.completed === 1
        })
        await settle(worker.stop())
        expect(handled).toEqual(['fine'])
        const dead = await q.dead.list()
        const reasons = Object.fromEntries(dead.map((d) => [d.id, d.reason]))
        expect(reasons.garbled).toMatch(/^undecodable payload: /)
        expect(reasons['wrong-shape']).toMatch(/^invalid payload: job data failed validation/)
        expect(dead.find((d) => d.id === 'garbled')!.payload).toBe('{not json')
        expect(notices.filter(([c]) => c.endsWith('.dead'))).toHaveLength(2)
        await settle(work.close())
      })

      it('a delayed add runs after its delay', async () => {
        const work = api()
        const q = work.queue<string>(fresh(), { visibilityTimeout: V })
        const delay = fake ? 10_000 : 300
        const t0 = Date.now()
        await q.add('late', { delay })
        let ranAt = 0
        const worker = q.process(
          async () => {
            ranAt = Date.now()
          },
          { pollInterval: 50 },
        )
        await until(async () => (await q.stats()).completed === 1, delay * 20)
        await settle(worker.stop())
        expect(ranAt - t0).toBeGreaterThanOrEqual(delay - 5)
        await settle(work.close())
      })

      it('a handler outliving the visibility timeout: the job is redelivered, the late ack refused', async () => {
        const work = api()
        const q = work.queue<string>(fresh(), { visibilityTimeout: V })
        await q.add('slow', { id: 's' })
        let release!: () => void
        const gate = new Promise<void>((r) => (release = r))
        const slow = q.process(
          async (job) => {
            if (job.attempt === 1) await gate
          },
          { pollInterval: 50 },
        )
        await until(async () => (await q.stats()).inFlight === 1)
        const fast = q.process(async () => {}, { pollInterval: 50 })
        await until(async () => (await q.stats()).completed === 1, V * 20)
        expect(fast.stats.completed).toBe(1)
        release()
        await until(async () => slow.stats.lateAcks === 1)
        expect(slow.stats.completed).toBe(0)
        expect(await q.stats()).toMatchObject({ completed: 1, lateAcks: 1 })
        // Once, unless a loaded machine let a lease run out once more (real time only).
        if (fake) expect((await q.stats()).redelivered).toBe(1)
        else expect((await q.stats()).redelivered).toBeGreaterThanOrEqual(1)
        await settle(Promise.all([slow.stop(), fast.stop()]))
        await settle(work.close())
      })

      it('job.extend keeps a long job beyond the visibility timeout', async () => {
        const work = api()
        // On real time a longer lease: renewals are timers, and a loaded machine delays them.
        const VL = fake ? V : 1_000
        const q = work.queue<string>(fresh(), { visibilityTimeout: VL })
        await q.add('long')
        let release!: () => void
        const gate = new Promise<void>((r) => (release = r))
        let extended = false
        const worker = q.process(
          async (job) => {
            await job.extend(VL * 3)
            extended = true
            await gate
          },
          { pollInterval: 50 },
        )
        await until(() => extended)
        const other = q.process(async () => {}, { pollInterval: 50 })
        await pass(VL * 2.5)
        expect(await q.stats()).toMatchObject({ inFlight: 1, redelivered: 0 })
        release()
        await until(async () => (await q.stats()).completed === 1)
        expect(await q.stats()).toMatchObject({ redelivered: 0, lateAcks: 0, completed: 1 })
        expect(other.stats.completed).toBe(0)
        await settle(Promise.all([worker.stop(), other.stop()]))
        await settle(work.close())
      })

      it('respects concurrency', async () => {
        const work = api()
        const q = work.queue<number>(fresh(), { visibilityTimeout: V })
        await q.addMany(Array.from({ length: 20 }, (_, i) => ({ data: i })))
        let now = 0
        let peak = 0
        const worker = q.process(
          async () => {
            peak = Math.max(peak, ++now)
            await sleep(5)
            now--
          },
          { concurrency: 4, pollInterval: 50 },
        )
        await until(async () => (await q.stats()).completed === 20)
        await settle(worker.stop())
        expect(peak).toBe(4)
        await settle(work.close())
      })

      it('prefetch reads ahead without exceeding concurrency; a stop gives read-ahead jobs back', async () => {
        const work = api()
        const q = work.queue<number>(fresh(), { visibilityTimeout: V })
        await q.addMany(Array.from({ length: 30 }, (_, i) => ({ data: i })))
        let now = 0
        let peak = 0
        const seen: number[] = []
        const worker = q.process(
          async (job) => {
            peak = Math.max(peak, ++now)
            seen.push(job.data)
            await sleep(2)
            now--
          },
          { concurrency: 2, prefetch: 5, pollInterval: 50 },
        )
        await until(() => seen.length >= 10)
        await settle(worker.stop())
        expect(peak).toBe(2)
        const done = (await q.stats()).completed
        expect(done).toBe(seen.length)
        // The read-ahead jobs were given back unstarted: another worker gets every one.
        const rest: number[] = []
        const w2 = q.process(
          async (job) => {
            rest.push(job.data)
          },
          { concurrency: 4, pollInterval: 50 },
        )
        await until(async () => (await q.stats()).completed === 30, V * 20)
        await settle(w2.stop())
        expect([...seen, ...rest].sort((a, b) => a - b)).toEqual(
          Array.from({ length: 30 }, (_, i) => i),
        )
        expect((await q.stats()).redelivered).toBe(0)
        await settle(work.close())
      })

      it('stop({ drain: true }) finishes what is in hand, takes nothing new, loses nothing', async () => {
        const work = api()
        const q = work.queue<number>(fresh(), { visibilityTimeout: V })
        await q.addMany(Array.from({ length: 10 }, (_, i) => ({ data: i })))
        const finished: number[] = []
        let started = 0
        const worker = q.process(
          async (job) => {
            started++
            await sleep(30)
            finished.push(job.data)
          },
          { concurrency: 3, pollInterval: 50 },
        )
        await until(() => started >= 3)
        await settle(worker.stop({ drain: true }))
        expect(worker.running).toBe(0)
        expect(finished).toHaveLength(started)
        const s = await q.stats()
        expect(s).toMatchObject({ inFlight: 0, completed: started, waiting: 10 - started })
        await settle(work.close())
        // Every timer the worker and the store set is gone once stopped.
        if (fake) expect(vi.getTimerCount()).toBe(0)
      })

      it('stop({ drain: true, timeout }) abandons handlers still running after the timeout', async () => {
        const work = api()
        // A lease far longer than the stop timeout: the worker gives a job up when its lease
        // runs out, and that must not come first on a loaded machine.
        const q = work.queue<number>(fresh(), { visibilityTimeout: fake ? V : 10_000 })
        await q.add(1)
        let aborted = false
        let started = false
        const worker = q.process(
          (job) =>
            new Promise<void>((resolve) => {
              started = true
              job.signal.addEventListener('abort', () => {
                aborted = true
                resolve()
              })
            }),
          { pollInterval: 50 },
        )
        await until(() => started)
        const t0 = Date.now()
        await settle(worker.stop({ drain: true, timeout: 200 }))
        expect(aborted).toBe(true)
        expect(Date.now() - t0).toBeGreaterThanOrEqual(195)
        // Abandoned, not acknowledged: it will be delivered again.
        expect(await q.stats()).toMatchObject({ inFlight: 1, completed: 0 })
        await settle(work.close())
      })

      it('stop({ drain: false }) abandons jobs in hand to redelivery; signal stops a worker', async () => {
        const work = api()
        const q = work.queue<number>(fresh(), { visibilityTimeout: V })
        await q.addMany([{ data: 1 }, { data: 2 }])
        let aborted = 0
        let started = 0
        const worker = q.process(
          (job) =>
            new Promise<void>((resolve) => {
              started++
              job.signal.addEventListener('abort', () => {
                aborted++
                resolve()
              })
            }),
          { concurrency: 2, pollInterval: 50 },
        )
        // Both handlers running (not merely delivered: a delivery still on the wire when
        // the worker abandons is given back without running).
        await until(() => started === 2)
        await settle(worker.stop({ drain: false }))
        expect(aborted).toBe(2)
        expect(await q.stats()).toMatchObject({ inFlight: 2, completed: 0 })

        const ac = new AbortController()
        const second = q.process(async () => {}, {
          concurrency: 2,
          signal: ac.signal,
          pollInterval: 50,
        })
        await until(async () => (await q.stats()).completed === 2, V * 20)
        expect(await q.stats()).toMatchObject({ redelivered: 2, inFlight: 0 })
        ac.abort()
        await settle(second.stopped)
        await settle(work.close())
        if (fake) expect(vi.getTimerCount()).toBe(0)
      })
    })
  })
}
