/**
 * Over HTTP, an id of an older incarnation of a run id (the run was created again after its
 * TTL, with more events than that position) gets the typed reset, never the new run's events
 * from that seq on: SSE (`Last-Event-ID`, `?after=`) and NDJSON end with a `stream_error`
 * frame carrying `run_reset`, `runbus/client` throws `RunResetError`, the compat `get` answers
 * 410 once and then serves the new run from its start.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createRunbus, RunNotFoundError, type Runbus } from '../../src/index.js'
import { createHub, type Hub } from '../../src/hub/index.js'
import { createClient, HubError, RunResetError } from '../../src/client/index.js'
import type { RunEvent } from '../../src/events/envelope.js'
import { until } from '../conformance/helpers.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Setup {
  rb: Runbus
  hub: Hub
  url: string
  /** Ids of the old incarnation (seq 1..6, the last is its end). */
  oldIds: string[]
  /** Ids of the new incarnation (seq 1..20, running). */
  newIds: string[]
}

/** Run `x` with 5 events and an end, expired, then created again with 20 events. */
async function recreated(): Promise<Setup> {
  const rb = createRunbus({ retention: { ttlMs: 30 } })
  const hub = createHub({ runbus: rb, insecure: true, compatWaitMs: 2_000 })
  const server: Server = createServer((req, res) => hub.node(req, res))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(async () => {
    await hub.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await rb.close()
  })
  const old = await rb.runs.create({ id: 'x' })
  for (let i = 0; i < 5; i++) old.emit('old', i)
  await old.end()
  const oldIds = (await rb.runs.read('x')).events.map((e) => e.id)
  await until(
    () =>
      rb.runs.get('x').then(
        () => false,
        (e: unknown) => e instanceof RunNotFoundError,
      ),
    5_000,
    'the ended run to expire',
  )
  const again = await rb.runs.create({ id: 'x' })
  for (let i = 0; i < 20; i++) again.emit('new', i)
  await again.flush()
  const newIds = (await rb.runs.read('x')).events.map((e) => e.id)
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { rb, hub, url, oldIds, newIds }
}

/** The whole body of a stream that the hub ends by itself. */
async function body(url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
  expect(res.status).toBe(200)
  return res.text()
}

describe('hub: positions of an older incarnation', () => {
  it('SSE with Last-Event-ID or ?after= of the old run: one stream_error frame (run_reset), no event', async () => {
    const { url, oldIds, newIds } = await recreated()
    expect(oldIds).toHaveLength(6)
    expect(newIds).toHaveLength(20)
    for (const oldId of oldIds) expect(newIds).not.toContain(oldId)
    for (const text of [
      await body(`${url}/v1/runs/x/events`, { 'last-event-id': oldIds[2] }),
      await body(`${url}/v1/runs/x/events?after=${encodeURIComponent(oldIds[5])}`),
    ]) {
      const frames = text.split('\n\n').filter((f) => f !== '' && !f.startsWith(':'))
      expect(frames).toHaveLength(1)
      expect(frames[0]).toMatch(/^event: stream_error\ndata: /)
      const data = JSON.parse(frames[0].split('\ndata: ')[1]) as {
        error: { code: string; run: string }
      }
      expect(data.error).toMatchObject({ code: 'run_reset', run: 'x' })
    }
    // The new run's own ids, and a plain seq, resume in it.
    const own = await fetch(`${url}/v1/runs/x/events?format=ndjson`, {
      headers: { 'last-event-id': newIds[17] },
    })
    const reader = own.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(JSON.parse(first.split('\n')[0]) as RunEvent).toMatchObject({ id: newIds[18], seq: 19 })
    await reader.cancel()
  })

  it('NDJSON with the old id: a stream_error line with run_reset', async () => {
    const { url, oldIds } = await recreated()
    const text = await body(`${url}/v1/runs/x/events?format=ndjson`, {
      'last-event-id': oldIds[3],
    })
    const lines = text.split('\n').filter((l) => l !== '')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0])).toMatchObject({
      type: 'stream_error',
      error: { code: 'run_reset', run: 'x' },
    })
  })

  it('runbus/client resuming from the old id throws RunResetError (410), having delivered nothing', async () => {
    const { url, oldIds } = await recreated()
    const client = createClient({ baseUrl: url })
    const follow = client.follow('x', { after: oldIds[2] })
    const seen: RunEvent[] = []
    let error: unknown
    try {
      for await (const e of follow) seen.push(e)
    } catch (err) {
      error = err
    }
    expect(seen).toEqual([])
    expect(error).toBeInstanceOf(RunResetError)
    expect(error).toBeInstanceOf(HubError)
    expect(error).toMatchObject({ code: 'run_reset', status: 410, run: 'x' })
  })

  it('compat get: 410 run_reset once for a cursor of the old run, then the new run from its start', async () => {
    const { rb, url } = await recreated()
    const get = async (): Promise<Response> =>
      fetch(`${url}/api/event/get`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ request_id: 'y' }),
      })
    // A caller that read the old incarnation of run y up to its third event.
    const y = await rb.runs.create({ id: 'y' })
    for (let i = 0; i < 3; i++) y.emit('old', i)
    await y.flush()
    for (let i = 0; i < 3; i++) expect((await get()).status).toBe(200)
    await y.end() // expires 30 ms later
    await until(
      () =>
        rb.runs.get('y').then(
          () => false,
          (e: unknown) => e instanceof RunNotFoundError,
        ),
      5_000,
      'the ended run to expire',
    )
    const again = await rb.runs.create({ id: 'y' })
    for (let i = 0; i < 10; i++) again.emit('new', i)
    await again.flush()
    const reset = await get()
    expect(reset.status).toBe(410)
    expect(((await reset.json()) as { error: { code: string } }).error.code).toBe('run_reset')
    const next = await get()
    expect(next.status).toBe(200)
    expect(await next.json()).toMatchObject({ event_type: 'new', run: 'y' })
  })
})
