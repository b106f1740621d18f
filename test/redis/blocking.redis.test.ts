/**
 * The blocking-connection helper on a real Redis: its CLIENT ID follows reconnects, an
 * abort unblocks a blocked read (CLIENT UNBLOCK), a killed socket fails the read at once,
 * and a guard time drops a connection that does not answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { BackendUnavailableError } from '../../src/events/errors.js'
import { BlockingConnection, BlockingPool } from '../../src/backends/redis/blocking.js'
import { ownOptions } from '../../src/backends/redis/connection.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { until } from '../helpers/wait.js'

describe.skipIf(!redisAvailable())('BlockingConnection (real Redis)', () => {
  let redis: TestRedis
  let control: Redis
  const opened: Redis[] = []
  const open = () => {
    const c = new Redis(redis.url, {
      ...ownOptions(2_000, 'runbus:test-blocking'),
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    })
    opened.push(c)
    return c
  }
  beforeAll(async () => {
    redis = await startRedis()
    control = new Redis(redis.url)
  })
  afterAll(async () => {
    for (const c of opened) c.disconnect()
    control?.disconnect()
    await redis?.stop()
  })

  const blockedXread = (bc: BlockingConnection, signal?: AbortSignal) =>
    bc.run('XREAD', (conn) => conn.call('XREAD', 'BLOCK', 0, 'STREAMS', 'nothing', '$'), {
      control,
      aborted: 'aborted' as const,
      ...(signal ? { signal } : {}),
    })

  it('knows its CLIENT ID, and an abort wakes a blocked read through CLIENT UNBLOCK', async () => {
    const bc = new BlockingConnection(open, 2_000)
    const id = await bc.id()
    expect(id).toBeGreaterThan(0)
    expect(bc.knownId).toBe(id)
    const ac = new AbortController()
    const read = blockedXread(bc, ac.signal)
    await until(() => /cmd=xread/.test(redis.cli('CLIENT', 'LIST', 'ID', String(id))), 'blocked')
    ac.abort()
    // Woken by CLIENT UNBLOCK (XREAD answers nil), not by dropping the connection.
    expect(await read).toBeNull()
    expect(bc.dropped).toBe(false)
    bc.drop()
  })

  it('fails a blocked read as soon as its socket is killed; the next connection has another id', async () => {
    const bc = new BlockingConnection(open, 2_000)
    const first = await bc.id()
    const read = blockedXread(bc)
    await until(() => /cmd=xread/.test(redis.cli('CLIENT', 'LIST', 'ID', String(first))), 'blocked')
    const t0 = Date.now()
    redis.cli('CLIENT', 'KILL', 'ID', String(first))
    await expect(read).rejects.toBeInstanceOf(BackendUnavailableError)
    expect(Date.now() - t0).toBeLessThan(1_000)
    const second = await bc.id()
    expect(second).not.toBe(first)
    bc.drop()
  })

  it('past the guard time the read fails and the connection is dropped; the pool opens a new one', async () => {
    const pool = new BlockingPool(open, 2_000)
    const bc = pool.get('q\0c')
    await bc.id()
    const read = bc.run('XREAD', (conn) => conn.call('XREAD', 'BLOCK', 0, 'STREAMS', 'n', '$'), {
      guardMs: 50,
    })
    await expect(read).rejects.toThrow(/did not answer XREAD within 50 ms/)
    expect(bc.dropped).toBe(true)
    expect(pool.get('q\0c')).not.toBe(bc)
    pool.close()
  })
})
