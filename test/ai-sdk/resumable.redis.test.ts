import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { redisBackend } from '../../src/backends/redis/index.js'
import { createResumableStreamContext } from '../../src/ai-sdk/index.js'
import { redisAvailable } from '../helpers/redis-server.js'
import { useRedis } from '../redis/helpers.js'
import { resumableSuite } from './resumable-suite.js'
import { readText } from './streams.js'

describe.skipIf(!redisAvailable())('resumable streams on Redis', () => {
  const redis = useRedis()
  resumableSuite('redis', () => redis.backend())

  it('a producer SIGKILLed mid-stream: readers get what was stored and a clear end', async () => {
    const prefix = `test-${randomUUID()}`
    const keyPrefix = 'kill'
    const script = fileURLToPath(new URL('./fixtures/text-producer.ts', import.meta.url))
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, redis.redis.url, prefix, keyPrefix],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the producer never stored')), 90_000)
        child.stdout.on('data', (b: Buffer) => {
          if (b.toString().includes('stored')) {
            clearTimeout(timer)
            resolve()
          }
        })
        child.once('exit', (code) => reject(new Error(`producer exited early (${code})`)))
      })
      const backend = redisBackend({ url: redis.redis.url, prefix })
      const rb = createRunbus({ backend })
      try {
        const ctx = createResumableStreamContext({
          runbus: rb,
          waitUntil: null,
          keyPrefix,
          staleAfterMs: 300,
        })
        // One reader follows live when the producer dies, one arrives afterwards.
        const live = await ctx.resumeExistingStream('s1')
        const liveText = readText(live, Infinity, 10_000)
        child.kill('SIGKILL')
        await exited
        const started = Date.now()
        expect(await liveText).toBe('a\nb\n')
        expect(Date.now() - started).toBeLessThan(20_000)
        expect(await ctx.hasExistingStream('s1')).toBe('DONE')
        const summary = await rb.runs.get(`${keyPrefix}:s1`)
        expect(summary.status).toBe('failed')
        expect(summary.error).toMatch(/producer stopped/)
        // After the end: resumable-stream's contract for a done stream.
        expect(await ctx.resumeExistingStream('s1')).toBeNull()
      } finally {
        await rb.close()
        await backend.close()
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    }
  }, 150_000)
})
