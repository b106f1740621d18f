/**
 * Stream behaviour that needs a clock or a stalled socket: the 15 s keep-alive (fake
 * timers), the slow-reader cut over a real connection, and the inbox long poll.
 */
import { connect } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { createHub } from '../../src/hub/index.js'
import { epochTagOf, eventIdOf } from '../../src/events/envelope.js'
import { StreamReader, startHub, type TestHub } from './helpers.js'
import { until } from '../helpers/wait.js'

const decoder = new TextDecoder()

afterEach(() => {
  vi.useRealTimers()
})

describe('hub streams', () => {
  it('sends ": ping" every 15 s on an idle stream, not before', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const rb = createRunbus()
    const hub = createHub({ runbus: rb, insecure: true })
    await rb.runs.create({ id: 'idle' })
    const res = await hub.fetch(new Request('http://hub/v1/runs/idle/events'))
    const reader = res.body!.getReader()
    const next = async () => decoder.decode((await reader.read()).value)
    vi.advanceTimersByTime(14_999)
    // Nothing yet: the next thing on the stream is this event, not a ping.
    await rb.runs.send('idle', { type: 'noop' }) // inbox traffic is not on the stream
    const run = await rb.runs.open('idle')
    await run.append('tick', 1)
    const tag = epochTagOf((await rb.runs.get('idle')).createdAt)
    expect(await next()).toMatch(new RegExp(`^id: ${eventIdOf(1, tag)}\nevent: tick\n`))
    vi.advanceTimersByTime(1)
    expect(await next()).toBe(': ping\n\n')
    vi.advanceTimersByTime(15_000)
    expect(await next()).toBe(': ping\n\n')
    await reader.cancel()
    await hub.close()
    await rb.close()
  })

  describe('over HTTP', () => {
    let h: TestHub
    afterEach(async () => {
      await h?.close()
    })

    it('paces a reader that stops reading (the hub holds at most its limit for it) and cuts it once it took nothing for a keep-alive period; others are unaffected', async () => {
      h = await startHub({ maxQueuedBytes: 256 * 1024, pingIntervalMs: 100 })
      await h.call('POST', '/v1/runs', { id: 'big' })
      // A reader that never reads: its socket and the hub's buffer fill up.
      const port = Number(new URL(h.url).port)
      const stalled = connect({ port, host: '127.0.0.1' })
      await new Promise<void>((r) => stalled.once('connect', () => r()))
      stalled.pause()
      stalled.write(
        `GET /v1/runs/big/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.admin}\r\n\r\n`,
      )
      const healthy = new StreamReader(`${h.url}/v1/runs/big/events`, {
        authorization: `Bearer ${h.admin}`,
      })
      await until(() => h.hub.readers('big') === 2, 'two readers')
      const chunk = 'x'.repeat(100_000)
      let sent = 0
      while (h.hub.stats().cuts === 0 && sent < 2000) {
        await h.call('POST', '/v1/runs/big/events', { type: 'blob', data: chunk })
        sent++
      }
      expect(h.hub.stats().cuts).toBe(1)
      expect(h.hub.readers('big')).toBe(1)
      await h.call('POST', '/v1/runs/big/end', { status: 'completed' })
      await healthy.done
      expect(healthy.frames).toHaveLength(sent + 1)
      const metrics = await (await h.call('GET', '/metrics', undefined, '')).text()
      expect(metrics).toMatch(/runbus_slow_reader_cuts_total 1/)
      stalled.destroy()
    })

    it('lets an HTTP agent read its inbox, with a long poll', async () => {
      h = await startHub()
      await h.call('POST', '/v1/runs', { id: 'agent' })
      const empty = await (await h.call('GET', '/v1/runs/agent/inbox')).json()
      expect(empty).toEqual({ messages: [] })
      const polling = h.call('GET', '/v1/runs/agent/inbox?wait=10')
      await h.call('POST', '/v1/runs/agent/inbox', { type: 'steer', data: { text: 'left' } })
      const got = await (await polling).json()
      expect(got.messages).toMatchObject([{ id: '1', type: 'steer', data: { text: 'left' } }])
      await h.call('POST', '/v1/runs/agent/inbox', { type: 'interrupt', data: { reason: 'stop' } })
      const after = await (await h.call('GET', '/v1/runs/agent/inbox?after=1')).json()
      expect(after.messages.map((m: { type: string }) => m.type)).toEqual(['interrupt'])
      const reader = await h.token(['read'], ['agent'])
      expect((await h.call('GET', '/v1/runs/agent/inbox', undefined, reader)).status).toBe(403)
      expect((await h.call('GET', '/v1/runs/agent/inbox?after=x')).status).toBe(400)
    })

    it("fixes a reader's position before the stream opens: ?live=1 then an append at once is never missed (50 times)", async () => {
      h = await startHub()
      await h.call('POST', '/v1/runs', { id: 'now' })
      for (let i = 0; i < 50; i++) {
        const reader = new StreamReader(`${h.url}/v1/runs/now/events?live=1`, {
          authorization: `Bearer ${h.admin}`,
        })
        await reader.until((r) => r.headers !== undefined, 'the stream head')
        await h.call('POST', '/v1/runs/now/events', { type: 'tick', data: i })
        await reader.until((r) => r.frames.length >= 1, `tick ${i}`)
        expect(reader.frames[0]).toMatchObject({ event: 'tick', data: { data: i } })
        reader.close()
        await reader.done
      }
    })

    it("its readers are the instance's followers: rb.stats() counts them, rb.close() ends them", async () => {
      h = await startHub()
      await h.call('POST', '/v1/runs', { id: 'counted' })
      const before = h.rb.stats().followers
      const readers = Array.from(
        { length: 3 },
        () =>
          new StreamReader(`${h.url}/v1/runs/counted/events`, {
            authorization: `Bearer ${h.admin}`,
          }),
      )
      await until(() => h.hub.readers('counted') === 3, 'three readers')
      expect(h.rb.stats().followers).toBe(before + 3)
      // One backend watch for the three of them.
      expect(h.rb.stats().feeds).toBe(1)
      await h.rb.close()
      for (const r of readers) await r.done
      expect(readers.every((r) => r.closed)).toBe(true)
      expect(h.rb.stats().followers).toBe(0)
      expect(h.hub.readers('counted')).toBe(0)
    })

    it('mounts under a base path', async () => {
      h = await startHub({ basePath: '/runbus/' })
      expect((await h.call('POST', '/runbus/v1/runs', { id: 'p' })).status).toBe(201)
      expect((await h.call('GET', '/runbus/v1/runs/p')).status).toBe(200)
      expect((await h.call('GET', '/v1/runs/p')).status).toBe(404)
    })
  })
})
