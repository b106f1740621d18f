/**
 * The client against the real hub (in-process, memory backend): gaps as the hub reports
 * them, resume across server-side cuts while the run is being written, asks end to end.
 */
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createRunbus } from '../index.js'
import { createHub } from '../hub/index.js'
import { epochTagOfId, eventIdOf, seqOfId, type RunEvent } from '../events/envelope.js'
import { createClient, type GapNotice } from './index.js'
import {
  HubError,
  PayloadTooLargeError,
  RunbusError,
  RunEndedError,
  RunNotFoundError,
} from '../events/errors.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function realHub(maxEvents = 10_000): Promise<{ url: string; cut(): number }> {
  const rb = createRunbus({ retention: { maxEvents } })
  const hub = createHub({ runbus: rb, insecure: true })
  const streams = new Set<ServerResponse>()
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.includes('/events')) {
      streams.add(res)
      res.on('close', () => streams.delete(res))
    }
    hub.node(req, res)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(async () => {
    await hub.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await rb.close()
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      const n = streams.size
      for (const s of streams) s.socket?.destroy()
      return n
    },
  }
}

describe('client against the hub', () => {
  it('surfaces the gap the hub reports when history was trimmed, then resumes past it', async () => {
    const hub = await realHub(5)
    const client = createClient({ baseUrl: hub.url })
    const { run } = await client.createRun()
    await client.append(
      run.id,
      Array.from({ length: 20 }, (_, i) => ({ type: 'text', data: i + 1 })),
    )
    await client.end(run.id, { status: 'completed' })
    const follow = client.follow(run.id, { after: '2' })
    const gaps: GapNotice[] = []
    follow.on('gap', (g) => gaps.push(g))
    const events: RunEvent[] = []
    for await (const ev of follow) events.push(ev)
    expect(gaps).toHaveLength(1)
    expect(gaps[0].from).toBe(eventIdOf(3, epochTagOfId(events[1].id)))
    expect(events[0].type).toBe('gap')
    const text = events.filter((e) => e.type === 'text').map((e) => e.seq)
    expect(text.length).toBeGreaterThan(0)
    expect(text.at(-1)).toBe(20)
    expect(seqOfId(gaps[0].to)).toBe(text[0] - 1)
    expect(events.at(-1)!.type).toBe('end')
    expect(follow.end).toEqual({ status: 'completed' })
  })

  it('resumes across server-side cuts while the run is written: every event once, in order', async () => {
    const hub = await realHub()
    const client = createClient({ baseUrl: hub.url })
    const { run } = await client.createRun()
    const follow = client.follow(run.id, { backoff: { initialMs: 5, maxMs: 40 } })
    const seen: number[] = []
    const reading = (async () => {
      for await (const ev of follow) seen.push(ev.seq)
    })()
    for (let batch = 0; batch < 10; batch++) {
      await client.append(
        run.id,
        Array.from({ length: 25 }, (_, i) => ({ type: 'text', data: batch * 25 + i })),
      )
      // Cut whatever is open right now; the follow must pick up where it was.
      hub.cut()
      await new Promise<void>((resolve) => {
        const off = follow.on('state', (s) => {
          if (s.state === 'connected') {
            off()
            resolve()
          }
        })
      })
    }
    await client.end(run.id, { status: 'completed' })
    await reading
    expect(seen).toEqual(Array.from({ length: 251 }, (_, i) => i + 1))
    expect(follow.reconnects).toBeGreaterThanOrEqual(10)
  })

  it('live starts after what the run holds now', async () => {
    const hub = await realHub()
    const client = createClient({ baseUrl: hub.url })
    const { run } = await client.createRun()
    await client.append(run.id, [{ type: 'old' }, { type: 'old' }, { type: 'old' }])
    const follow = client.follow(run.id, { live: true })
    const connected = new Promise<void>((resolve) =>
      follow.on('state', (s) => s.state === 'connected' && resolve()),
    )
    const types: string[] = []
    const reading = (async () => {
      for await (const ev of follow) types.push(ev.type)
    })()
    await connected
    await client.append(run.id, [{ type: 'new' }, { type: 'new' }])
    await client.end(run.id, { status: 'completed' })
    await reading
    expect(types).toEqual(['new', 'new', 'end'])
  })

  it('asks and answers end to end; a second answer is refused with 409 ask_answered', async () => {
    const hub = await realHub()
    const client = createClient({ baseUrl: hub.url })
    const { run } = await client.createRun()
    const ask = await client.ask(run.id, {
      kind: 'confirm',
      prompt: 'Merge?',
      data: { diff: '+a' },
    })
    expect(ask).toMatchObject({ run: run.id, kind: 'confirm', state: 'pending' })
    expect((await client.listAsks(run.id, { state: 'pending' })).map((a) => a.id)).toEqual([ask.id])
    expect(await client.answer(ask.id, true)).toMatchObject({ state: 'answered', answer: true })
    await expect(client.answer(ask.id, false)).rejects.toMatchObject({
      code: 'ask_answered',
      status: 409,
    })
    expect((await client.getAsk(ask.id)).answer).toBe(true)
    await client.end(run.id, { status: 'completed' })
    const types: string[] = []
    for await (const ev of client.follow(run.id)) types.push(ev.type)
    expect(types).toEqual(['ask', 'answer', 'end'])
    await expect(client.getRun('nope')).rejects.toMatchObject({ status: 404 })
  })

  it('rebuilds the typed error from the code: instanceof works over HTTP as in-process', async () => {
    const hub = await realHub()
    const client = createClient({ baseUrl: hub.url })
    const missing = await client.getRun('nope').catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(RunNotFoundError)
    expect(missing).toBeInstanceOf(HubError)
    expect(missing).toBeInstanceOf(RunbusError)
    expect(missing).toMatchObject({ code: 'run_not_found', status: 404, run: 'nope' })
    const { run } = await client.createRun()
    await client.end(run.id, { status: 'completed' })
    const ended = await client.append(run.id, { type: 'text' }).catch((e: unknown) => e)
    expect(ended).toBeInstanceOf(RunEndedError)
    expect(ended).toMatchObject({ code: 'run_ended', status: 409, run: run.id })
    const big = await client
      .append(run.id, { type: 'text', data: 'x'.repeat(3 * 1024 * 1024) })
      .catch((e: unknown) => e)
    expect(big).toBeInstanceOf(PayloadTooLargeError)
    expect(big).toMatchObject({ status: 413 })
    expect((big as PayloadTooLargeError).limit).toBeGreaterThan(0)
    // A plain HubError stays one, and is not mistaken for a typed class.
    expect(new HubError(0, 'unreachable', 'x')).not.toBeInstanceOf(RunNotFoundError)
  })
})
