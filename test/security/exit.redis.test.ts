/**
 * The README's Redis example must let the process exit after `await rb.close()`: with
 * `ownBackend: true` the instance closes the backend's connections too.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'

const available = redisAvailable()

describe.runIf(available)('README Redis example', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('exits by itself after rb.close()', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/security/fixtures/readme-redis.ts', redis.url, `t-${randomUUID()}`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    const started = Date.now()
    const code = await new Promise<number | null | 'hung'>((resolve) => {
      const t = setTimeout(() => resolve('hung'), 20_000)
      child.once('exit', (c) => {
        clearTimeout(t)
        resolve(c)
      })
    })
    if (code === 'hung') child.kill('SIGKILL')
    expect(out).toContain('closed')
    expect(code).toBe(0)
    console.log(`README Redis example exited ${Date.now() - started} ms after spawn`)
  })
})
