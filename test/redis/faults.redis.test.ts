/**
 * Faults, tested: the follower's connection killed mid-stream, Redis unresponsive and
 * Redis gone while a run emits. Every wait is on a condition, never a sleep-and-hope.
 */
import { spawn } from 'node:child_process'
import { beforeAll, describe, expect, it } from 'vitest'
import { BackendUnavailableError } from '../../src/events/errors.js'
import { redisAvailable, type TestRedis } from '../helpers/redis-server.js'
import { clientIdByName, useRedis } from './helpers.js'
import { until } from '../helpers/wait.js'
import { draft } from '../helpers/draft.js'

/** Runs redis-cli without blocking the event loop (DEBUG SLEEP must not freeze the test). */
function cliAsync(port: number, ...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', ['-p', String(port), ...args], { stdio: 'ignore' })
    p.on('error', reject)
    p.on('exit', () => resolve())
  })
}

describe.skipIf(!redisAvailable())('redis faults', () => {
  const fixture = useRedis()
  const backend = fixture.backend
  let redis: TestRedis
  beforeAll(() => {
    redis = fixture.redis
  })

  it('the follower connection is killed mid-stream: it resumes from its last id, no gap, no duplicate', async () => {
    const writer = backend()
    const follower = backend({ prefix: writer.prefix })
    const total = 6000
    await writer.runs.createRun({ id: 'k', maxEvents: 100_000, ts: 1 })
    const seqs: number[] = []
    const gaps: number[] = []
    await follower.runs.watch('k', {
      onEvents: (es) => {
        for (const e of es) seqs.push(e.seq)
      },
      onGap: (after) => gaps.push(after),
    })
    const writing = (async () => {
      for (let i = 0; i < total; i += 20) {
        await writer.runs.append(
          'k',
          Array.from({ length: 20 }, (_, j) => draft('x', i + j)),
        )
      }
    })()
    let kills = 0
    for (const at of [1000, 3000]) {
      await until(() => seqs.length >= at, `${at} events before the kill`)
      const id = clientIdByName(redis, `runbus:reader:${follower.prefix}`)
      expect(id).toBeDefined()
      redis.cli('CLIENT', 'KILL', 'ID', id!)
      kills++
    }
    await writing
    await until(() => seqs.length >= total, 'all events after the kills', 20_000)
    expect(kills).toBe(2)
    expect(follower.readerStats.reconnects).toBeGreaterThanOrEqual(1)
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    expect(gaps).toEqual([])
  })

  it('entries trimmed before the follower read them are reported as a gap, then it goes on', async () => {
    const writer = backend()
    const follower = backend({ prefix: writer.prefix })
    await writer.runs.createRun({ id: 'g', maxEvents: 10, ts: 1 })
    const seqs: number[] = []
    const gaps: number[] = []
    await follower.runs.watch('g', {
      onEvents: (es) => seqs.push(...es.map((e) => e.seq)),
      onGap: (after) => gaps.push(after),
    })
    await writer.runs.append('g', [draft('x', 1)])
    await until(() => seqs.length === 1, 'first event')
    // The follower's connection dies; meanwhile one batch of 50 is written and (maxEvents
    // 10) seqs 2..41 are trimmed before anyone could read them.
    redis.cli('CLIENT', 'KILL', 'ID', clientIdByName(redis, `runbus:reader:${follower.prefix}`)!)
    await writer.runs.append(
      'g',
      Array.from({ length: 50 }, (_, i) => draft('x', i)),
    )
    await until(() => seqs.includes(51), 'last event')
    expect(gaps).toEqual([1])
    expect(seqs).toEqual([1, ...Array.from({ length: 10 }, (_, i) => 42 + i)])
  })

  it('Redis unresponsive while a run emits: calls fail typed within the bound, and every append reported stored is stored', async () => {
    const b = backend({ commandTimeoutMs: 500 })
    await b.runs.createRun({ id: 'u', maxEvents: 100_000, ts: 1 })
    const stored: number[] = [] // values whose append resolved
    const failed: number[] = []
    const slowest: number[] = []
    // CLIENT PAUSE: Redis holds every other client's commands for 2 s (unresponsive, data kept).
    const sleeping = cliAsync(redis.port, 'CLIENT', 'PAUSE', '2000', 'ALL')
    let v = 0
    const t0 = Date.now()
    while (Date.now() - t0 < 3500) {
      const value = v++
      const started = Date.now()
      try {
        await b.runs.append('u', [draft('n', value)])
        stored.push(value)
      } catch (err) {
        expect(err).toBeInstanceOf(BackendUnavailableError)
        failed.push(value)
        slowest.push(Date.now() - started)
      }
    }
    await sleeping
    expect(failed.length).toBeGreaterThan(0)
    expect(Math.max(...slowest)).toBeLessThan(500 + 300)
    await b.runs.append('u', [draft('n', v)])
    stored.push(v)
    // Verify with a normal timeout: a big read on a busy machine may take over 500 ms.
    const checker = backend({ prefix: b.prefix })
    const page = await checker.runs.read('u', 0, 100_000)
    const seen = page.events.map((e) => e.data as number)
    const seenSet = new Set(seen)
    const attempted = new Set([...stored, ...failed])
    // nothing reported stored is missing, and nothing stored was never attempted
    expect(stored.filter((s) => !seenSet.has(s))).toEqual([])
    expect(seen.filter((s) => !attempted.has(s))).toEqual([])
    expect(page.events.map((e) => e.seq)).toEqual(seen.map((_, i) => i + 1))
  })

  it('Redis down for a few seconds: typed errors within the bound, then everything works again', async () => {
    const b = backend({ commandTimeoutMs: 400 })
    await b.runs.createRun({ id: 'd', maxEvents: 100, ts: 1 })
    const seqs: number[] = []
    await b.runs.watch('d', { onEvents: (es) => seqs.push(...es.map((e) => e.seq)) })
    await b.runs.append('d', [draft('x', 1)])
    await until(() => seqs.length === 1, 'first event')
    await redis.kill()
    try {
      for (const call of [
        () => b.runs.append('d', [draft('x', 2)]),
        () => b.ping(),
        () => b.runs.read('d', 0, 10),
        () => b.kv.get('x'),
        () => b.broadcast.publish('a.b', 'x'),
        () => b.runs.createRun({ id: 'd2', maxEvents: 10, ts: 1 }),
      ]) {
        const t = Date.now()
        await expect(call()).rejects.toBeInstanceOf(BackendUnavailableError)
        expect(Date.now() - t).toBeLessThan(400 + 300)
      }
    } finally {
      await redis.start()
    }
    // The test Redis keeps nothing on disk: the old run is gone, new work goes through,
    // and the shared follower (which was following 'd') serves a new run.
    await until(
      async () =>
        b.ping().then(
          () => true,
          () => false,
        ),
      'ping after restart',
    )
    await b.runs.createRun({ id: 'd3', maxEvents: 100, ts: 1 })
    const after: number[] = []
    await b.runs.watch('d3', { onEvents: (es) => after.push(...es.map((e) => e.seq)) })
    await b.runs.append('d3', [draft('x', 1), draft('x', 2)])
    await until(() => after.length === 2, 'events after restart')
    expect(after).toEqual([1, 2])
  })
})
