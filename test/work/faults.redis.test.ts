/**
 * Work-queue fault tests: real worker processes (test/fixtures/work-worker.ts) on a real
 * Redis. A worker SIGKILLed mid-run, a poison job, a handler outliving its lease, and a
 * draining stop under load.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { keyBuilder, type RedisContext } from '../../src/backends/redis/context.js'
import { createRedisWorkStore } from '../../src/backends/redis/work.js'
import { createWorkApi } from '../../src/work/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { until as waitUntil } from '../helpers/wait.js'

const available = redisAvailable()

interface WorkerProc {
  proc: ChildProcess
  consumer: string
  /** Resolves with the worker's stats line after a SIGTERM stop. */
  stopped: Promise<Record<string, number>>
  exited: Promise<void>
}

describe.skipIf(!available)('work queue under faults (real processes, real Redis)', () => {
  let redis: TestRedis
  let admin: Redis
  const procs: ChildProcess[] = []

  beforeAll(async () => {
    redis = await startRedis()
    admin = new Redis(redis.url)
  })
  afterEach(() => {
    for (const p of procs.splice(0))
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  })
  afterAll(async () => {
    admin?.disconnect()
    await redis?.stop()
  })

  const until = (cond: () => boolean | Promise<boolean>, what: string, ms = 20_000) =>
    waitUntil(cond, what, ms, 10)

  function startWorker(options: Record<string, unknown>): Promise<WorkerProc> {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/work-worker.ts', JSON.stringify(options)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    procs.push(proc)
    const lines = createInterface({ input: proc.stdout })
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    let onStopped!: (s: Record<string, number>) => void
    const stopped = new Promise<Record<string, number>>((r) => (onStopped = r))
    return new Promise((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`worker exited early (${code})`)))
      lines.on('line', (line) => {
        if (line.startsWith('ready ')) resolve({ proc, consumer: line.slice(6), stopped, exited })
        if (line.startsWith('stopped ')) onStopped(JSON.parse(line.slice(8)))
      })
    })
  }

  /** A store and API in this process, to add jobs and read stats. */
  function local(prefix: string) {
    const client = new Redis(redis.url)
    const ctx: RedisContext = {
      prefix,
      client,
      commandTimeoutMs: 5_000,
      key: keyBuilder(prefix),
      duplicate: () => client.duplicate(),
    }
    const store = createRedisWorkStore(ctx)
    const work = createWorkApi({ work: store })
    return {
      store,
      work,
      close: async () => {
        await work.close()
        await store.close()
        client.disconnect()
      },
    }
  }

  const counts = async (key: string) => {
    const h = await admin.hgetall(key)
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)]))
  }

  it('3 workers, 5,000 jobs, one SIGKILLed mid-run: every job completes; duplicates ≤ what the dead one held', async () => {
    const prefix = `t-${randomUUID()}`
    const queue = 'jobs'
    const l = local(prefix)
    const q = l.work.queue<{ n: number }>(queue)
    const N = 5_000
    const added = await q.addMany(Array.from({ length: N }, (_, n) => ({ data: { n } })))
    const options = {
      url: redis.url,
      prefix,
      queue,
      concurrency: 16,
      visibilityMs: 1_000,
      maxAttempts: 5,
      backoffBase: 50,
      handlerMs: 4,
    }
    const workers = await Promise.all([
      startWorker(options),
      startWorker(options),
      startWorker(options),
    ])
    await until(async () => (await admin.hlen(`${prefix}:done`)) >= N * 0.3, 'a third done')
    const victim = workers[1]
    victim.proc.kill('SIGKILL')
    await victim.exited
    // What the dead worker held: its entries in the pending list (not yet reclaimed: the
    // visibility timeout is 1 s).
    const stream = keyBuilder(prefix)(queue, 'work:stream')
    const held = (await admin.xpending(stream, 'runbus', '-', '+', 100_000, victim.consumer)).length
    await until(async () => (await admin.hlen(`${prefix}:done`)) === N, 'every job done', 40_000)
    await until(async () => (await q.stats()).completed >= N, 'acks landed')
    const done = await counts(`${prefix}:done`)
    for (const id of added.ids) expect(done[id], id).toBeGreaterThanOrEqual(1)
    const deliveries = Object.values(done).reduce((a, b) => a + b, 0)
    const duplicates = deliveries - N
    console.log(
      `[work SIGKILL] jobs=${N} completed-at-least-once=${Object.keys(done).length} duplicates=${duplicates} held-by-killed-worker=${held}`,
    )
    expect(held).toBeGreaterThan(0)
    expect(duplicates).toBeLessThanOrEqual(held)
    const s = await q.stats()
    expect(s).toMatchObject({ waiting: 0, inFlight: 0, dead: 0, delayed: 0 })
    expect(s.redelivered).toBeGreaterThanOrEqual(held - duplicates)
    for (const w of [workers[0], workers[2]]) w.proc.kill('SIGTERM')
    await Promise.all([workers[0].stopped, workers[2].stopped])
    await l.close()
  }, 60_000)

  it('a poison job is dead-lettered after maxAttempts with its last error, without delaying the others', async () => {
    const prefix = `t-${randomUUID()}`
    const queue = 'poisoned'
    const l = local(prefix)
    const q = l.work.queue<{ n: number }>(queue)
    await q.add({ n: -1 }, { id: 'poison' })
    await q.addMany(Array.from({ length: 300 }, (_, n) => ({ data: { n }, id: `ok-${n}` })))
    const w = await startWorker({
      url: redis.url,
      prefix,
      queue,
      // One at a time, poison first in line: a queue that retried in place would hold every
      // other job behind it.
      concurrency: 1,
      visibilityMs: 5_000,
      maxAttempts: 3,
      backoffBase: 300,
      handlerMs: 2,
      poison: ['poison'],
    })
    await until(async () => (await q.stats()).dead === 1, 'poison dead')
    const [dead] = await q.dead.list()
    expect(dead).toMatchObject({ id: 'poison', attempts: 3, reason: 'poisoned poison (attempt 3)' })
    await until(async () => (await admin.hlen(`${prefix}:done`)) === 300, 'all others done')
    const started = await counts(`${prefix}:started`)
    expect(started.poison).toBe(3)
    // Not delayed: a failed attempt goes to the back of the line (after its back-off), so
    // every other job was done before the poison job's last attempt.
    const doneAt = Object.values(await counts(`${prefix}:done-at`))
    expect(Math.max(...doneAt)).toBeLessThan(dead.deadAt)
    expect(await q.stats()).toMatchObject({ dead: 1, failed: 3, completed: 300, inFlight: 0 })
    w.proc.kill('SIGTERM')
    await w.stopped
    await l.close()
  }, 30_000)

  it('a handler outliving the visibility timeout: redelivered to another worker; its late ack is refused and counted', async () => {
    const prefix = `t-${randomUUID()}`
    const queue = 'slow'
    const l = local(prefix)
    const q = l.work.queue<{ n: number }>(queue)
    const opts = {
      url: redis.url,
      prefix,
      queue,
      concurrency: 1,
      visibilityMs: 400,
      maxAttempts: 5,
      backoffBase: 50,
      handlerMs: 1,
      slow: { ids: ['slow'], ms: 1_500 },
    }
    // Both workers run before the job exists (a process starting late must not decide the
    // race): whichever takes it first holds it past its lease, the other takes it over.
    const [a, b] = await Promise.all([startWorker(opts), startWorker(opts)])
    await q.add({ n: 1 }, { id: 'slow' })
    await until(async () => (await counts(`${prefix}:started`)).slow === 1, 'first attempt began')
    // The other worker takes the job over after the lease expires and completes it.
    await until(async () => (await q.stats()).completed === 1, 'completed by the second worker')
    expect((await counts(`${prefix}:done`)).slow).toBe(1)
    expect((await counts(`${prefix}:started`)).slow).toBe(2)
    // Then the first handler finishes: its ack is refused (late), the job stays completed once.
    await until(async () => (await counts(`${prefix}:done`)).slow === 2, 'first handler finished')
    await until(async () => (await q.stats()).lateAcks === 1, 'late ack counted')
    expect(await q.stats()).toMatchObject({
      completed: 1,
      redelivered: 1,
      lateAcks: 1,
      inFlight: 0,
      waiting: 0,
    })
    a.proc.kill('SIGTERM')
    b.proc.kill('SIGTERM')
    const stats = await Promise.all([a.stopped, b.stopped])
    const first = stats.find((x) => x.lateAcks === 1)
    const second = stats.find((x) => x.completed === 1)
    expect(first).toMatchObject({ completed: 0, lateAcks: 1 })
    expect(second).toMatchObject({ completed: 1, lateAcks: 0 })
    expect(first).not.toBe(second)
    await l.close()
  }, 30_000)

  it('stop({ drain: true }) under load finishes what is in hand and loses nothing', async () => {
    const prefix = `t-${randomUUID()}`
    const queue = 'drain'
    const l = local(prefix)
    const q = l.work.queue<{ n: number }>(queue)
    const N = 2_000
    await q.addMany(Array.from({ length: N }, (_, n) => ({ data: { n }, id: `j${n}` })))
    const opts = {
      url: redis.url,
      prefix,
      queue,
      concurrency: 20,
      visibilityMs: 30_000, // a lost job would only come back after 30 s: the test would fail
      maxAttempts: 5,
      backoffBase: 50,
      handlerMs: 15,
    }
    const w = await startWorker(opts)
    await until(async () => (await admin.hlen(`${prefix}:done`)) >= 300, 'under load')
    w.proc.kill('SIGTERM')
    const stats = await w.stopped
    await w.exited
    const started = await counts(`${prefix}:started`)
    const done = await counts(`${prefix}:done`)
    // Everything it started, it finished and acknowledged; nothing is left in flight.
    expect(Object.keys(done).sort()).toEqual(Object.keys(started).sort())
    const s1 = await q.stats()
    expect(s1.inFlight).toBe(0)
    expect(s1.completed).toBe(Object.keys(done).length)
    expect(stats.completed).toBe(s1.completed)
    expect(s1.waiting).toBe(N - s1.completed)
    // A second worker takes the rest: each job exactly once overall.
    const w2 = await startWorker(opts)
    await until(async () => (await q.stats()).completed === N, 'rest done')
    const all = await counts(`${prefix}:done`)
    expect(Object.keys(all)).toHaveLength(N)
    expect(Object.values(all).every((c) => c === 1)).toBe(true)
    console.log(
      `[work drain] stopped after ${s1.completed} of ${N}; the rest by a second worker; no duplicates`,
    )
    w2.proc.kill('SIGTERM')
    await w2.stopped
    await l.close()
  }, 40_000)
})
