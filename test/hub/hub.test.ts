import { afterEach, describe, expect, it } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { createHub } from '../../src/hub/index.js'
import { epochTagOf, eventIdOf } from '../../src/events/envelope.js'
import { SECRET, StreamReader, startHub, type TestHub } from './helpers.js'
import { jwtVerify } from 'jose'
import { until } from '../helpers/wait.js'

let h: TestHub
afterEach(async () => {
  await h?.close()
})

async function newRun(id?: string): Promise<string> {
  const res = await h.call('POST', '/v1/runs', id ? { id } : {})
  expect(res.status).toBe(201)
  return (await res.json()).run.id
}

/** The id of `seq` of `run` as the hub hands it out (the codec with the run's incarnation). */
async function idsOf(run: string): Promise<(seq: number) => string> {
  const info = (await (await h.call('GET', `/v1/runs/${run}`)).json()) as { createdAt: number }
  const tag = epochTagOf(info.createdAt)
  return (seq) => eventIdOf(seq, tag)
}

async function append(run: string, body: unknown, token?: string): Promise<Response> {
  return h.call('POST', `/v1/runs/${run}/events`, body, token)
}

for (const adapter of ['node', 'web'] as const) {
  describe(`hub over HTTP (${adapter} adapter)`, () => {
    it('creates, appends, follows as SSE and ends with the end frame', async () => {
      h = await startHub({ adapter })
      const created = await h.call('POST', '/v1/runs', { id: 'r1', meta: { user: 'ada' } })
      expect(created.status).toBe(201)
      const body = await created.json()
      expect(body.run).toMatchObject({
        id: 'r1',
        status: 'running',
        lastId: null,
        events: 0,
        readers: 0,
      })
      expect(Object.keys(body.tokens)).toEqual(['read', 'answer'])
      const { payload } = await jwtVerify(body.tokens.read, new TextEncoder().encode(SECRET))
      expect(payload).toMatchObject({ runs: ['r1'], scope: ['read'] })

      const id = await idsOf('r1')
      const a = await append('r1', { type: 'text', data: { text: 'hello' } })
      expect(a.status).toBe(201)
      expect(await a.json()).toEqual({ ids: [id(1)] })
      const batch = await append('r1', [
        { type: 'text', data: { text: ' wor' } },
        { type: 'tool_call', data: { name: 'x' } },
      ])
      expect(await batch.json()).toEqual({ ids: [id(2), id(3)] })

      const reader = new StreamReader(`${h.url}/v1/runs/r1/events?token=${body.tokens.read}`)
      await reader.until((r) => r.frames.length === 3, 'history')
      expect(reader.headers?.get('content-type')).toMatch(/^text\/event-stream/)
      expect(reader.frames[0]).toMatchObject({
        id: id(1),
        event: 'text',
        data: { id: id(1), run: 'r1', seq: 1, type: 'text', data: { text: 'hello' } },
      })
      const info = await (await h.call('GET', '/v1/runs/r1')).json()
      expect(info).toMatchObject({
        id: 'r1',
        status: 'running',
        lastId: id(3),
        events: 3,
        readers: 1,
        meta: { user: 'ada' },
      })

      await append('r1', { type: 'text', data: { text: 'ld' } })
      await reader.until((r) => r.frames.length === 4, 'live event')
      const end = await h.call('POST', '/v1/runs/r1/end', { status: 'completed' })
      expect(end.status).toBe(200)
      await reader.done
      expect(reader.frames.map((f) => f.event)).toEqual([
        'text',
        'text',
        'tool_call',
        'text',
        'end',
      ])
      expect(reader.frames[4]).toMatchObject({
        id: id(5),
        data: { type: 'end', status: 'completed', data: { status: 'completed' } },
      })

      // after the end: history then end, and 409 on append / end
      const late = new StreamReader(`${h.url}/v1/runs/r1/events`, {
        authorization: `Bearer ${h.admin}`,
      })
      await late.done
      expect(late.frames.map((f) => f.id)).toEqual([1, 2, 3, 4, 5].map(id))
      expect((await append('r1', { type: 'x', data: 1 })).status).toBe(409)
      const again = await h.call('POST', '/v1/runs/r1/end', { status: 'failed' })
      expect(again.status).toBe(409)
      expect(await again.json()).toMatchObject({ error: { code: 'run_ended' } })
      const list = await (await h.call('GET', '/v1/runs?status=completed')).json()
      expect(list.runs.map((r: { id: string }) => r.id)).toEqual(['r1'])
    })

    it('resumes from Last-Event-ID, ?after, ?live=1, and streams NDJSON', async () => {
      h = await startHub({ adapter })
      const run = await newRun()
      for (let i = 0; i < 5; i++) await append(run, { type: 't', data: i })
      const id = await idsOf(run)
      const auth = { authorization: `Bearer ${h.admin}` }
      const byHeader = new StreamReader(`${h.url}/v1/runs/${run}/events?after=1`, {
        ...auth,
        'last-event-id': '3',
      })
      const byQuery = new StreamReader(`${h.url}/v1/runs/${run}/events?after=2`, auth)
      await byHeader.until((r) => r.frames.length === 2, 'resume by header')
      await byQuery.until((r) => r.frames.length === 3, 'resume by query')
      expect(byHeader.frames.map((f) => f.id)).toEqual([id(4), id(5)])
      expect(byQuery.frames.map((f) => f.id)).toEqual([id(3), id(4), id(5)])
      const live = new StreamReader(`${h.url}/v1/runs/${run}/events?live=1`, auth)
      const nd = new StreamReader(
        `${h.url}/v1/runs/${run}/events?format=ndjson&after=4`,
        auth,
        true,
      )
      await nd.until((r) => r.frames.length === 1, 'ndjson history')
      await until(() => h.hub.readers(run) === 4, 'four readers')
      await append(run, { type: 't', data: 5 })
      await h.call('POST', `/v1/runs/${run}/end`, { status: 'cancelled' })
      await Promise.all([byHeader.done, byQuery.done, live.done, nd.done])
      expect(live.frames.map((f) => f.id)).toEqual([id(6), id(7)])
      expect(nd.frames.map((f) => f.data.seq)).toEqual([5, 6, 7])
      expect(nd.frames[2].data).toMatchObject({ type: 'end', status: 'cancelled' })
      expect(nd.headers?.get('content-type')).toMatch(/^application\/x-ndjson/)
      expect(h.hub.readers(run)).toBe(0)
    })

    it('refuses bad tokens with 401 and other runs or scopes with 403', async () => {
      h = await startHub({ adapter })
      await newRun('mine')
      await newRun('theirs')
      const expect401 = async (res: Response) => {
        expect(res.status).toBe(401)
        expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } })
      }
      await expect401(await h.call('GET', '/v1/runs/mine', undefined, ''))
      await expect401(await h.call('GET', '/v1/runs/mine', undefined, 'not.a.jwt'))
      const forged = await (
        await import('../../src/hub/index.js')
      ).signToken('another-secret-0123456789', { scope: ['admin'] })
      await expect401(await h.call('GET', '/v1/runs/mine', undefined, forged))
      // expired: sign with exp in the past
      const { SignJWT } = await import('jose')
      const expired = await new SignJWT({ runs: '*', scope: ['admin'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
        .sign(new TextEncoder().encode(SECRET))
      await expect401(await h.call('GET', '/v1/runs/mine', undefined, expired))

      const reader = await h.token(['read'], ['mine'])
      expect((await h.call('GET', '/v1/runs/mine', undefined, reader)).status).toBe(200)
      const other = await h.call('GET', '/v1/runs/theirs', undefined, reader)
      expect(other.status).toBe(403)
      expect(await other.json()).toMatchObject({ error: { code: 'forbidden' } })
      expect((await append('mine', { type: 'x', data: 1 }, reader)).status).toBe(403)
      const sse = new StreamReader(`${h.url}/v1/runs/theirs/events?token=${reader}`)
      await sse.done
      expect(sse.status).toBe(403)
      const answerer = await h.token(['answer'], ['mine'])
      expect(
        (await h.call('POST', '/v1/runs/mine/inbox', { type: 'steer', data: 'left' }, answerer))
          .status,
      ).toBe(202)
      expect((await h.call('POST', '/v1/runs/mine/events', { type: 'x' }, answerer)).status).toBe(
        403,
      )
      // a run-scoped token lists only its runs
      const list = await (await h.call('GET', '/v1/runs', undefined, reader)).json()
      expect(list.runs.map((r: { id: string }) => r.id)).toEqual(['mine'])
      // channels need a token for every run
      expect(
        (await h.call('POST', '/v1/channels/a.b', { data: 1 }, await h.token(['write'], ['mine'])))
          .status,
      ).toBe(403)
    })

    it('answers bad input with JSON errors and the protocol statuses', async () => {
      h = await startHub({
        adapter,
        maxBodyBytes: 10_000,
        core: { limits: { maxPayloadBytes: 1000 } },
      })
      const run = await newRun('r')
      const check = async (res: Response, status: number, code: string) => {
        expect(res.status).toBe(status)
        expect(res.headers.get('content-type')).toMatch(/application\/json/)
        expect(await res.json()).toMatchObject({ error: { code } })
      }
      await check(await append(run, '{"type": "x", '), 400, 'invalid_argument')
      await check(await append(run, { type: 'x', data: 1, extra: true }), 400, 'invalid_argument')
      await check(await append(run, { type: 42 }), 400, 'invalid_argument')
      await check(await append(run, { type: 'end', data: {} }), 400, 'invalid_argument')
      await check(await append(run, []), 400, 'invalid_argument')
      await check(
        await append(run, { type: 'x', data: 'y'.repeat(2000) }),
        413,
        'payload_too_large',
      )
      await check(
        await append(run, { type: 'x', data: 'y'.repeat(20_000) }),
        413,
        'payload_too_large',
      )
      await check(await append('nope', { type: 'x' }), 404, 'run_not_found')
      await check(await append('bad{id}', { type: 'x' }), 400, 'invalid_argument')
      await check(await h.call('GET', '/v1/nothing'), 404, 'not_found')
      await check(await h.call('DELETE', '/v1/runs'), 405, 'method_not_allowed')
      await check(await h.call('POST', '/v1/runs', { id: 'r' }), 409, 'run_exists')
      await check(
        await h.call('POST', `/v1/runs/${run}/end`, { status: 'done' }),
        400,
        'invalid_argument',
      )
      await check(await h.call('GET', `/v1/runs/${run}/events?after=abc`), 400, 'invalid_argument')
      await check(await h.call('GET', `/v1/runs/${run}/events?format=xml`), 400, 'invalid_argument')
      await check(await h.call('GET', '/v1/runs/%E0%A4%A'), 400, 'invalid_argument')
      await check(await h.call('GET', '/v1/runs?status=weird'), 400, 'invalid_argument')
      await check(await h.call('POST', '/v1/channels/a..b', { data: 1 }), 400, 'invalid_argument')
      await check(await h.call('GET', '/v1/asks/ask_missing'), 404, 'ask_not_found')
    })
  })
}

describe('hub: asks, inbox, channels, compat, operations', () => {
  it('asks over HTTP: created, listed, answered once, seen in the run stream, long-polled', async () => {
    h = await startHub()
    const run = await newRun('agent')
    const reader = new StreamReader(`${h.url}/v1/runs/agent/events`, {
      authorization: `Bearer ${h.admin}`,
    })
    const res = await h.call('POST', '/v1/runs/agent/asks', {
      kind: 'confirm',
      prompt: 'Merge?',
      data: { diff: '+a' },
    })
    expect(res.status).toBe(201)
    const ask = await res.json()
    expect(ask).toMatchObject({
      run,
      kind: 'confirm',
      prompt: 'Merge?',
      state: 'pending',
      data: { diff: '+a' },
    })
    const pending = await (await h.call('GET', '/v1/runs/agent/asks?state=pending')).json()
    expect(pending.asks.map((a: { id: string }) => a.id)).toEqual([ask.id])

    const waiting = h.call('GET', `/v1/asks/${ask.id}?wait=10`)
    const answerer = await h.token(['answer'], ['agent'])
    const bad = await h.call('POST', `/v1/asks/${ask.id}/answer`, { answer: 'yes' }, answerer)
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ error: { code: 'validation_failed' } })
    const ok = await h.call('POST', `/v1/asks/${ask.id}/answer`, { answer: true }, answerer)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ id: ask.id, state: 'answered', answer: true })
    const twice = await h.call('POST', `/v1/asks/${ask.id}/answer`, { answer: false }, answerer)
    expect(twice.status).toBe(409)
    expect(await twice.json()).toMatchObject({ error: { code: 'ask_answered' } })
    expect(await (await waiting).json()).toMatchObject({ state: 'answered', answer: true })
    await reader.until((r) => r.frames.some((f) => f.event === 'answer'), 'answer event')
    expect(reader.frames.map((f) => f.event)).toEqual(['ask', 'answer'])
    expect(reader.frames[1].data.data).toMatchObject({ ask: ask.id, answer: true })
    const all = await (await h.call('GET', '/v1/runs/agent/asks')).json()
    expect(all.asks).toHaveLength(1)
    expect(all.asks[0]).toMatchObject({ state: 'answered' })
    // an ask that expires: 410 on a late answer
    const short = await (
      await h.call('POST', '/v1/runs/agent/asks', { kind: 'text', prompt: 'quick', timeout: 30 })
    ).json()
    await reader.until((r) => r.frames.some((f) => f.event === 'ask_expired'), 'expiry')
    const late = await h.call('POST', `/v1/asks/${short.id}/answer`, { answer: 'x' })
    expect(late.status).toBe(410)
    reader.close()
  })

  it('publishes on channels to SSE subscribers of matching patterns', async () => {
    h = await startHub()
    const auth = { authorization: `Bearer ${h.admin}` }
    const star = new StreamReader(
      `${h.url}/v1/channels/${encodeURIComponent('jobs.*.done')}/events`,
      auth,
    )
    const rest = new StreamReader(
      `${h.url}/v1/channels/${encodeURIComponent('jobs.>')}/events?format=ndjson`,
      auth,
      true,
    )
    await star.until((r) => r.comments >= 1, 'subscribed')
    await rest.until((r) => r.comments >= 1, 'subscribed')
    expect(h.hub.stats().busSubscribers).toBe(2)
    expect((await h.call('POST', '/v1/channels/jobs.1.done', { data: { ok: true } })).status).toBe(
      202,
    )
    await h.call('POST', '/v1/channels/jobs.1.started', { data: 1 })
    await star.until((r) => r.frames.length === 1, 'star')
    await rest.until((r) => r.frames.length === 2, 'rest')
    expect(star.frames[0]).toMatchObject({
      event: 'message',
      data: { channel: 'jobs.1.done', data: { ok: true } },
    })
    expect(rest.frames.map((f) => f.data.channel)).toEqual(['jobs.1.done', 'jobs.1.started'])
    star.close()
    rest.close()
    await until(() => h.hub.stats().busSubscribers === 0, 'released')
  })

  it('speaks the seed-000 polling protocol', async () => {
    h = await startHub({ compatWaitMs: 200 })
    const run = await newRun('req-1')
    await append(run, { type: 'code_start', data: 'build it' })
    const get = () => h.call('POST', '/api/event/get', { request_id: 'req-1' })
    const first = await get()
    expect(first.status).toBe(200)
    expect(await first.json()).toMatchObject({
      event_type: 'code_start',
      data: 'build it',
      event_id: (await idsOf('req-1'))(1),
    })
    expect((await get()).status).toBe(204)
    // a get that waits for the next event
    const waiting = get()
    const ask = await (
      await h.call('POST', '/v1/runs/req-1/asks', { kind: 'text', prompt: 'paste' })
    ).json()
    const ev = await (await waiting).json()
    expect(ev).toMatchObject({ event_type: 'ask', ask_id: ask.id, kind: 'text' })
    const r = await h.call('POST', '/api/event/response', {
      request_id: 'req-1',
      event: ev,
      response: 'pasted',
    })
    expect(r.status).toBe(200)
    expect((await h.rb.asks.get(ask.id)).answer).toBe('pasted')
    expect((await (await get()).json()).event_type).toBe('answer')
    // response without the ask id: the one pending ask of the run
    const ask2 = await (
      await h.call('POST', '/v1/runs/req-1/asks', { kind: 'text', prompt: 'again' })
    ).json()
    expect(
      (
        await h.call('POST', '/api/event/response', {
          request_id: 'req-1',
          event: 'x',
          response: 'ok',
        })
      ).status,
    ).toBe(200)
    expect((await h.rb.asks.get(ask2.id)).state).toBe('answered')
    expect((await h.call('POST', '/api/event/get', { request_id: 'nope' })).status).toBe(404)
  })

  it('serves /healthz and /metrics, and sends the inbox', async () => {
    h = await startHub()
    const health = await h.call('GET', '/healthz', undefined, '')
    expect(health.status).toBe(200)
    const run = await newRun()
    await append(run, { type: 'a', data: 1 })
    const got = h.rb.runs.read(run)
    expect((await got).events).toHaveLength(1)
    const inbox = await h.call('POST', `/v1/runs/${run}/inbox`, {
      type: 'interrupt',
      data: { why: 'stop' },
    })
    expect(inbox.status).toBe(202)
    const metrics = await (await h.call('GET', '/metrics', undefined, '')).text()
    expect(metrics).toMatch(/runbus_events_in_total 1/)
    expect(metrics).toMatch(/runbus_runs_created_total 1/)
    expect(metrics).toMatch(
      /runbus_http_requests_total\{route="\/v1\/runs\/:run\/events",method="POST",status="201"\} 1/,
    )
    expect(metrics).toMatch(/runbus_readers 0/)
    expect(metrics).toMatch(/runbus_slow_reader_cuts_total 0/)
    expect(metrics).toMatch(/runbus_asks_pending/)
    // CORS preflight
    const pre = await fetch(`${h.url}/v1/runs`, {
      method: 'OPTIONS',
      headers: { origin: 'http://x', 'access-control-request-method': 'POST' },
    })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe('*')
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/)
  })

  it('counts trimmed inbox messages and delivered gaps in /metrics', async () => {
    h = await startHub({ core: { retention: { maxEvents: 2, maxInboxMessages: 2 } } })
    const run = await newRun()
    for (let i = 0; i < 4; i++) {
      expect((await append(run, { type: 't', data: i })).status).toBe(201)
      const sent = await h.call('POST', `/v1/runs/${run}/inbox`, { type: 'note', data: i })
      expect(sent.status).toBe(202)
    }
    const scrape = async (): Promise<string> =>
      (await h.call('GET', '/metrics', undefined, '')).text()
    const before = await scrape()
    expect(before).toMatch(/runbus_inbox_trimmed_total 2\n/)
    expect(before).toMatch(/runbus_gaps_total 0\n/)
    expect(before).toMatch(/runbus_emit_failures_total 0\n/)
    // A follower from the start finds the first two events trimmed: one gap, counted.
    const follower = h.rb.runs.follow(run, { after: 'start' })
    for await (const e of follower) {
      expect(e.type).toBe('gap')
      break
    }
    // The core's numbers are cached for 250 ms per scrape; wait until the count shows.
    await until(async () => /runbus_gaps_total 1\n/.test(await scrape()), 'runbus_gaps_total 1')
  })

  it('says 503 on /healthz when the backend does not answer', async () => {
    const rb = createRunbus()
    const hub = createHub({ runbus: rb, insecure: true })
    rb.backend.ping = () => Promise.reject(new Error('down'))
    const res = await hub.fetch(new Request('http://hub/healthz'))
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ error: { code: 'backend_unavailable' } })
    await hub.close()
    await rb.close()
  })

  it('refuses to start without a secret unless insecure', async () => {
    const rb = createRunbus()
    expect(() => createHub({ runbus: rb })).toThrow(/secret/)
    const open = createHub({ runbus: rb, insecure: true })
    expect((await open.fetch(new Request('http://hub/v1/runs', { method: 'POST' }))).status).toBe(
      201,
    )
    await open.close()
    await rb.close()
  })
})
