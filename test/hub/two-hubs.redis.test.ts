/**
 * Two hubs on one Redis, as two processes would be (two runbus instances over two Redis
 * backends with one prefix): a reader on hub A sees what is published on hub B, and an ask
 * answered on B resumes the agent whose run is followed on A.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { redisBackend, type RedisBackend } from '../../src/backends/redis/index.js'
import { epochTagOf, eventIdOf } from '../../src/events/envelope.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { StreamReader, startHub, type TestHub } from './helpers.js'
import { until } from '../helpers/wait.js'

describe.skipIf(!redisAvailable())('two hubs on one Redis', () => {
  let redis: TestRedis
  let backends: RedisBackend[] = []
  let hubs: TestHub[] = []

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })
  afterEach(async () => {
    for (const h of hubs) await h.close()
    for (const b of backends) await b.close()
    hubs = []
    backends = []
  })

  async function twoHubs(): Promise<[TestHub, TestHub]> {
    const prefix = `t-${randomUUID().slice(0, 8)}`
    for (let i = 0; i < 2; i++) {
      const backend = redisBackend({ url: redis.url, prefix })
      backends.push(backend)
      hubs.push(await startHub({ backend }))
    }
    return [hubs[0], hubs[1]]
  }

  it('a reader on hub A sees what is appended and ended on hub B', async () => {
    const [a, b] = await twoHubs()
    expect((await b.call('POST', '/v1/runs', { id: 'shared' })).status).toBe(201)
    expect((await a.call('GET', '/v1/runs/shared')).status).toBe(200)
    const reader = new StreamReader(`${a.url}/v1/runs/shared/events`, {
      authorization: `Bearer ${a.admin}`,
    })
    await until(() => a.hub.readers('shared') === 1, 'reader on A')
    for (let i = 0; i < 5; i++) {
      expect(
        (await b.call('POST', '/v1/runs/shared/events', { type: 'text', data: { i } })).status,
      ).toBe(201)
    }
    await reader.until((r) => r.frames.length === 5, 'events from B')
    expect(reader.frames.map((f) => f.data.data.i)).toEqual([0, 1, 2, 3, 4])
    expect((await b.call('POST', '/v1/runs/shared/end', { status: 'completed' })).status).toBe(200)
    await reader.done
    expect(reader.frames.at(-1)).toMatchObject({ event: 'end', data: { status: 'completed' } })
    // Ids A's reader got live (the shared XREAD reader) name the run's incarnation.
    const info = (await (await a.call('GET', '/v1/runs/shared')).json()) as { createdAt: number }
    const tag = epochTagOf(info.createdAt)
    expect(reader.frames.map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 6].map((n) => eventIdOf(n, tag)))
    // a late reader on A resumes from an id and gets the rest, then the end
    const late = new StreamReader(`${a.url}/v1/runs/shared/events`, {
      authorization: `Bearer ${a.admin}`,
      'last-event-id': reader.frames[2].id!,
    })
    await late.done
    expect(late.frames.map((f) => f.id)).toEqual(reader.frames.slice(3).map((f) => f.id))
    // and so does a plain seq (an id issued before ids carried the incarnation)
    const plain = new StreamReader(`${a.url}/v1/runs/shared/events`, {
      authorization: `Bearer ${a.admin}`,
      'last-event-id': '3',
    })
    await plain.done
    expect(plain.frames.map((f) => f.id)).toEqual(reader.frames.slice(3).map((f) => f.id))
  })

  it('an ask answered on hub B resumes the agent whose run is followed on hub A', async () => {
    const [a, b] = await twoHubs()
    // The agent lives with hub A's runbus instance; a person's page follows the run on A.
    const run = await a.rb.runs.create({ id: 'agent-run' })
    const reader = new StreamReader(`${a.url}/v1/runs/agent-run/events`, {
      authorization: `Bearer ${a.admin}`,
    })
    const answer = run.ask({ kind: 'confirm', prompt: 'Merge the fix?', data: { diff: '-a\n+b' } })
    await reader.until((r) => r.frames.some((f) => f.event === 'ask'), 'ask on A')
    const askId = reader.frames.find((f) => f.event === 'ask')!.data.data.ask as string
    // The person answers through hub B.
    const res = await b.call(
      'POST',
      `/v1/asks/${askId}/answer`,
      { answer: true },
      await b.token(['answer'], ['agent-run']),
    )
    expect(res.status).toBe(200)
    expect(await answer).toBe(true)
    await reader.until((r) => r.frames.some((f) => f.event === 'answer'), 'answer on A')
    await run.end()
    await reader.done
    expect(reader.frames.map((f) => f.event)).toEqual(['ask', 'answer', 'end'])
  })

  it('an HTTP agent asks on hub A, the person answers on B, the long poll on A returns it', async () => {
    const [a, b] = await twoHubs()
    await a.call('POST', '/v1/runs', { id: 'http-agent' })
    const ask = await (
      await a.call('POST', '/v1/runs/http-agent/asks', { kind: 'text', prompt: 'Name?' })
    ).json()
    const pendingOnB = await (await b.call('GET', '/v1/runs/http-agent/asks?state=pending')).json()
    expect(pendingOnB.asks.map((x: { id: string }) => x.id)).toEqual([ask.id])
    const poll = a.call('GET', `/v1/asks/${ask.id}?wait=20`)
    expect((await b.call('POST', `/v1/asks/${ask.id}/answer`, { answer: 'runbus' })).status).toBe(
      200,
    )
    expect(await (await poll).json()).toMatchObject({ state: 'answered', answer: 'runbus' })
    expect((await b.call('POST', `/v1/asks/${ask.id}/answer`, { answer: 'again' })).status).toBe(
      409,
    )
  })

  it('bus messages published on B reach SSE subscribers on A', async () => {
    const [a, b] = await twoHubs()
    const sub = new StreamReader(`${a.url}/v1/channels/${encodeURIComponent('deploy.*')}/events`, {
      authorization: `Bearer ${a.admin}`,
    })
    await sub.until((r) => r.comments >= 1, 'subscribed (the ready comment)')
    expect((await b.call('POST', '/v1/channels/deploy.web', { data: { n: 1 } })).status).toBe(202)
    await sub.until((r) => r.frames.length > 0, 'message from B')
    expect(sub.frames[0]).toMatchObject({ event: 'message', data: { channel: 'deploy.web' } })
    sub.close()
  })
})
