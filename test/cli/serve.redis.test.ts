/**
 * Two `runbus serve --redis` processes on one Redis: `runbus tail` on hub A follows what
 * `runbus publish` writes through hub B, to the end.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { Proc, SECRET, run } from './helpers.js'

describe.skipIf(!redisAvailable())('runbus serve --redis: two hub processes', () => {
  let redis: TestRedis
  const procs: Proc[] = []
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null) {
        p.child.kill('SIGKILL')
        await p.exited
      }
    }
    await redis?.stop()
  })

  it('a tail on hub A sees what is published through hub B', async () => {
    const prefix = `cli-${randomUUID().slice(0, 8)}`
    const env = { RUNBUS_SECRET: SECRET }
    const [a, b] = [0, 1].map(() => {
      const p = new Proc(['serve', '--port', '0', '--redis', redis.url, '--prefix', prefix], env)
      procs.push(p)
      return p
    })
    await a.until(() => a.out.includes('demo page'), 'hub A')
    await b.until(() => b.out.includes('demo page'), 'hub B')
    expect(a.out).toMatch(/backend: redis/)
    const admin = run(['token', '--scope', 'admin'], env).stdout.trim().split('\n').at(-1)!
    const auth = { authorization: `Bearer ${admin}` }
    const created = await fetch(`${b.url()}/v1/runs`, {
      method: 'POST',
      headers: auth,
      body: '{"id":"across"}',
    })
    expect(created.status).toBe(201)
    const tail = new Proc(['tail', 'across'], { RUNBUS_URL: a.url(), RUNBUS_TOKEN: admin })
    procs.push(tail)
    const viaB = { RUNBUS_URL: b.url(), RUNBUS_TOKEN: admin }
    expect(run(['publish', 'across', 'status', '{"message":"from hub B"}'], viaB).status).toBe(0)
    await tail.until(() => tail.out.includes('from hub B'), 'the event on A')
    await fetch(`${b.url()}/v1/runs/across/end`, {
      method: 'POST',
      headers: auth,
      body: '{"status":"completed"}',
    })
    expect(await tail.exited).toBe(0)
    expect(tail.out).toMatch(/■ completed/)
    for (const p of [a, b]) {
      p.child.kill('SIGTERM')
      expect(await p.exited).toBe(0)
    }
  })
})
