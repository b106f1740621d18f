/**
 * Calls that wait for a Redis connection share one readiness wait (a real redis-server,
 * killed and started again): however many wait while Redis is away, the connection holds one
 * `ready`/`end` listener pair for them, each wait keeps its own deadline, and the pair goes
 * once the connection is back or has ended.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { openClient, ownOptions, whenReady } from '../../src/backends/redis/connection.js'
import { BackendUnavailableError } from '../../src/events/errors.js'
import { redisAvailable, startRedis } from '../helpers/redis-server.js'
import { until } from '../helpers/wait.js'

describe.skipIf(!redisAvailable())('waiting for a Redis connection (real Redis)', () => {
  it('50 calls waiting while Redis is down add one listener pair; all go on when it is back', async () => {
    const redis = await startRedis()
    const client = openClient(redis.url, 5_000, 'runbus:test:ready')
    try {
      await whenReady(client, 5_000)
      const ready = client.listenerCount('ready')
      const end = client.listenerCount('end')
      await redis.kill()
      await until(() => client.status !== 'ready', 'the client sees the drop')
      // ioredis adds and drops a 'ready' listener of its own while it reconnects: count
      // synchronously around our calls, so its state cannot change in between.
      const before = client.listenerCount('ready')
      const waits = [whenReady(client, 15_000)]
      expect(client.listenerCount('ready')).toBe(before + 1)
      expect(client.listenerCount('end')).toBe(end + 1)
      for (let i = 1; i < 50; i++) waits.push(whenReady(client, 15_000))
      expect(client.listenerCount('ready')).toBe(before + 1)
      expect(client.listenerCount('end')).toBe(end + 1)
      await redis.start()
      await Promise.all(waits)
      expect(client.status).toBe('ready')
      expect(client.listenerCount('ready')).toBe(ready)
      expect(client.listenerCount('end')).toBe(end)
      // A later drop gets a fresh wait, not the settled one.
      await redis.kill()
      await until(() => client.status !== 'ready', 'the client sees the second drop')
      const again = client.listenerCount('ready')
      const second = whenReady(client, 15_000)
      expect(client.listenerCount('ready')).toBe(again + 1)
      await redis.start()
      await second
      expect(client.listenerCount('ready')).toBe(ready)
    } finally {
      client.disconnect()
      await redis.stop()
    }
  })

  it('each waiter keeps its own deadline, and the connection ending rejects the rest, typed', async () => {
    // A server that accepts and never answers: the client connects and never gets ready.
    const sockets = new Set<Socket>()
    const server = createServer((s) => {
      sockets.add(s)
      s.on('error', () => {})
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as AddressInfo
    // It gives up after its first connection closes ('end'), and waits long for answers.
    const client = new Redis(`redis://127.0.0.1:${port}`, {
      ...ownOptions(60_000, 'runbus:test:ready'),
      lazyConnect: true,
      retryStrategy: () => null,
    })
    client.on('error', () => {})
    const ready = client.listenerCount('ready')
    const end = client.listenerCount('end')
    try {
      // The first wait starts the lazy client; a short and a long one share one wait.
      const short = whenReady(client, 50)
      const withOne = client.listenerCount('ready')
      const long = whenReady(client, 60_000)
      expect(client.listenerCount('ready')).toBe(withOne)
      await expect(short).rejects.toThrow(/not reachable within 50 ms/)
      await until(() => sockets.size === 1, 'the client is connected')
      expect(client.status).not.toBe('ready')
      const during = client.listenerCount('ready')
      const more = Array.from({ length: 20 }, () => whenReady(client, 60_000))
      expect(client.listenerCount('ready')).toBe(during)
      for (const s of sockets) s.destroy()
      await expect(long).rejects.toThrow(/connection was closed/)
      await expect(long).rejects.toBeInstanceOf(BackendUnavailableError)
      for (const w of more) await expect(w).rejects.toBeInstanceOf(BackendUnavailableError)
      expect(client.status).toBe('end')
      expect(client.listenerCount('ready')).toBe(ready)
      expect(client.listenerCount('end')).toBe(end)
      // Once ended, a wait says so at once.
      await expect(whenReady(client, 60_000)).rejects.toThrow(/connection was closed/)
      expect(client.listenerCount('ready')).toBe(ready)
    } finally {
      client.disconnect()
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    }
  })
})
