/**
 * Faults through the public API: a run emits while Redis is unresponsive or gone. `flush()`
 * either succeeds once Redis is back or rejects with a clear, typed error within the
 * bound; nothing emitted is reported as stored when it was not.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { BackendUnavailableError, RunNotFoundError } from '../../src/events/errors.js'
import { redisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'

const TIMEOUT = 500
const SLACK = 400

function cliAsync(port: number, ...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', ['-p', String(port), ...args], { stdio: 'ignore' })
    p.on('error', reject)
    p.on('exit', () => resolve())
  })
}

/** Times a promise; resolves with its outcome and how long it took. */
async function timed(p: Promise<unknown>): Promise<{ ok: boolean; err?: unknown; ms: number }> {
  const t = Date.now()
  try {
    await p
    return { ok: true, ms: Date.now() - t }
  } catch (err) {
    return { ok: false, err, ms: Date.now() - t }
  }
}

describe.skipIf(!redisAvailable())('flush() while Redis fails', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  const open = (commandTimeoutMs = TIMEOUT, prefix = `test-${randomUUID()}`) => {
    const backend = redisBackend({ url: redis.url, prefix, commandTimeoutMs })
    const rb = createRunbus({ backend, retention: { maxEvents: 1_000_000 } })
    return {
      backend,
      rb,
      prefix,
      close: async () => {
        await rb.close().catch(() => {})
        await backend.close()
      },
    }
  }

  it('unresponsive for 2 s: flush rejects typed within the bound, then succeeds; every event stored at least once, in order', async () => {
    const { rb, close, prefix } = open()
    const checker = open(5000, prefix) // verifies with a normal timeout
    try {
      const run = await rb.runs.create()
      let v = 0
      const confirmed = new Set<number>() // values a resolved flush vouched for
      const outcomes: Array<{ ok: boolean; err?: unknown; ms: number }> = []
      const pausing = cliAsync(redis.port, 'CLIENT', 'PAUSE', '2000', 'ALL')
      const t0 = Date.now()
      while (Date.now() - t0 < 3000) {
        for (let i = 0; i < 10; i++) run.emit('n', ++v)
        const upTo = v
        const o = await timed(run.flush())
        outcomes.push(o)
        if (o.ok) for (let i = 1; i <= upTo; i++) confirmed.add(i)
      }
      await pausing
      // Redis is back: flush retries whatever was kept and succeeds.
      const last = await timed(run.flush())
      expect(last.ok).toBe(true)
      for (let i = 1; i <= v; i++) confirmed.add(i)
      const failures = outcomes.filter((o) => !o.ok)
      expect(failures.length).toBeGreaterThan(0)
      for (const f of failures) {
        expect(f.err).toBeInstanceOf(BackendUnavailableError)
        expect(f.ms).toBeLessThan(TIMEOUT + SLACK)
      }
      const page = await checker.rb.runs.read(run.id, { limit: 1_000_000 })
      const values = page.events.map((e) => e.data as number)
      // Every confirmed value is stored; retries may store a batch twice (at-least-once),
      // but the first occurrences keep emit order and nothing unknown appears.
      const firsts = values.filter((x, i) => values.indexOf(x) === i)
      expect(firsts).toEqual(Array.from({ length: v }, (_, i) => i + 1))
      expect([...confirmed].every((x) => values.includes(x))).toBe(true)
      expect(page.events.map((e) => e.seq)).toEqual(values.map((_, i) => i + 1))
    } finally {
      await close()
      await checker.close()
    }
  })

  it('gone for a few seconds: flush rejects typed within the bound; after a restart (empty) it says the run is gone', async () => {
    const { rb, backend, close } = open()
    try {
      const run = await rb.runs.create()
      run.emit('n', 1)
      await run.flush()
      await redis.kill()
      try {
        for (let i = 0; i < 3; i++) {
          run.emit('n', i + 2)
          const o = await timed(run.flush())
          expect(o.ok).toBe(false)
          expect(o.err).toBeInstanceOf(BackendUnavailableError)
          expect(o.ms).toBeLessThan(TIMEOUT + SLACK)
        }
        const p = await timed(backend.ping())
        expect(p.err).toBeInstanceOf(BackendUnavailableError)
        expect(p.ms).toBeLessThan(TIMEOUT + SLACK)
      } finally {
        await redis.start()
      }
      // The test Redis keeps nothing on disk: the run is gone, and flush says so instead of
      // claiming the kept events were stored.
      let o = await timed(run.flush())
      for (let i = 0; i < 50 && !o.ok && o.err instanceof BackendUnavailableError; i++) {
        o = await timed(run.flush()) // still reconnecting
      }
      expect(o.ok).toBe(false)
      expect(o.err).toBeInstanceOf(RunNotFoundError)
      // New work goes through.
      const fresh = await rb.runs.create()
      fresh.emit('n', 1)
      await fresh.flush()
      expect((await rb.runs.read(fresh.id)).events).toHaveLength(1)
    } finally {
      await close()
    }
  })
})
