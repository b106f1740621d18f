/**
 * The hardening findings, each refused on a real hub over real HTTP, with a normal reader
 * served afterwards: the per-subject connection cap, the running-runs quota of a token
 * subject, compat cursors per caller, who answered, listing for run-scoped tokens, the open
 * operations routes, the demo route and the Host header.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { toRequest, writeResponse } from '../../src/hub/bridge.js'
import { createWebRoutes } from '../../src/cli/web-routes.js'
import { startDemoAgent } from '../../src/cli/demo-agent.js'
import { SECRET, startSecHub, type SecHub } from './helpers.js'

let h: SecHub
beforeAll(async () => {
  h = await startSecHub({
    runbus: { limits: { maxRunningRunsPerOwner: 3 } },
    hub: {
      limits: { maxConnectionsPerSubject: 4, maxConnectionsPerAddress: 100 },
      metricsToken: 'metrics-token-0123456789',
    },
  })
})
afterAll(async () => {
  await h?.close()
})
// After every attack the hub still serves a normal reader (create, append, follow to the end).
afterEach(async () => {
  await h.healthy()
})

describe('limits per token subject', () => {
  it('caps the open streams of one token subject (429 + Retry-After); another subject is served', async () => {
    await h.call(
      'POST',
      '/v1/runs',
      { id: 'capped' },
      await h.token(['admin'], '*', { sub: 'maker-capped' }),
    )
    const greedy = await h.token(['read'], '*', { sub: 'greedy' })
    const open: Response[] = []
    for (let i = 0; i < 4; i++) {
      const res = await h.call('GET', '/v1/runs/capped/events', undefined, greedy)
      expect(res.status).toBe(200)
      open.push(res)
    }
    const refused = await h.call('GET', '/v1/runs/capped/events', undefined, greedy)
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(await refused.json()).toMatchObject({ error: { code: 'too_many' } })
    expect(h.hub.connections().refused.subject).toBeGreaterThanOrEqual(1)
    const other = await h.token(['read'], '*', { sub: 'someone-else' })
    const fine = await h.call('GET', '/v1/runs/capped', undefined, other)
    expect(fine.status).toBe(200)
    // Closing a stream gives its slot back.
    await open.pop()!.body!.cancel()
    let again: Response | undefined
    for (let i = 0; i < 100; i++) {
      again = await h.call('GET', '/v1/runs/capped/events', undefined, greedy)
      if (again.status === 200) break
      await again.body?.cancel()
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(again?.status).toBe(200)
    open.push(again!)
    for (const r of open) await r.body!.cancel()
  })

  it('a token subject may hold only its quota of running runs (429 quota_exceeded), counted; ending one frees a slot', async () => {
    const maker = await h.token(['write'], '*', { sub: 'maker' })
    for (let i = 0; i < 3; i++)
      expect((await h.call('POST', '/v1/runs', { id: `q-${i}` }, maker)).status).toBe(201)
    const over = await h.call('POST', '/v1/runs', { id: 'q-3' }, maker)
    expect(over.status).toBe(429)
    expect(await over.json()).toMatchObject({ error: { code: 'quota_exceeded', limit: 3 } })
    // Nothing half-stored.
    expect((await h.call('GET', '/v1/runs/q-3')).status).toBe(404)
    expect(h.rb.stats().quotaRefused).toBeGreaterThanOrEqual(1)
    await h.call('POST', '/v1/runs/q-0/end', { status: 'completed' }, maker)
    expect((await h.call('POST', '/v1/runs', { id: 'q-3' }, maker)).status).toBe(201)
  })
})

describe('callers stay apart', () => {
  it('compat get keeps one cursor per caller: a watcher does not consume the client’s events', async () => {
    await h.call(
      'POST',
      '/v1/runs',
      { id: 'seed' },
      await h.token(['admin'], '*', { sub: 'maker-seed' }),
    )
    await h.call('POST', '/v1/runs/seed/events', [
      { type: 'a', data: 1 },
      { type: 'b', data: 2 },
    ])
    const client = await h.token(['read', 'answer'], ['seed'], { sub: 'client' })
    const watcher = await h.token(['read'], ['seed'], { sub: 'watcher' })
    const get = async (tok: string) =>
      (await (await h.call('POST', '/api/event/get', { request_id: 'seed' }, tok)).json()) as {
        event_type: string
      }
    expect((await get(watcher)).event_type).toBe('a')
    expect((await get(watcher)).event_type).toBe('b')
    // The client still starts at the beginning.
    expect((await get(client)).event_type).toBe('a')
    expect((await get(client)).event_type).toBe('b')
  })

  it('an answer records the token subject as `by`, the caller’s label beside it, and refuses bidi/format characters', async () => {
    await h.call(
      'POST',
      '/v1/runs',
      { id: 'who' },
      await h.token(['admin'], '*', { sub: 'maker-who' }),
    )
    const ask = (await (
      await h.call('POST', '/v1/runs/who/asks', { kind: 'confirm', prompt: 'ok?' })
    ).json()) as { id: string }
    const ada = await h.token(['read', 'answer'], ['who'], { sub: 'user:ada' })
    const forged = await h.call(
      'POST',
      `/v1/asks/${ask.id}/answer`,
      {
        answer: true,
        by: 'admin\u202e',
      },
      ada,
    )
    expect(forged.status).toBe(400)
    expect(await forged.json()).toMatchObject({ error: { code: 'invalid_argument' } })
    const ok = await h.call(
      'POST',
      `/v1/asks/${ask.id}/answer`,
      { answer: true, by: 'the boss' },
      ada,
    )
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({
      state: 'answered',
      answeredBy: 'user:ada',
      answerLabel: 'the boss',
    })
    const page = await h.rb.runs.read('who')
    expect(page.events.find((e) => e.type === 'answer')?.data).toMatchObject({
      by: 'user:ada',
      label: 'the boss',
    })
  })

  it('a run-scoped token lists its own run even behind 100 newer ones', async () => {
    await h.call(
      'POST',
      '/v1/runs',
      { id: 'old-mine' },
      await h.token(['admin'], '*', { sub: 'maker-old-mine' }),
    )
    const bulk = await h.token(['write'], '*', { sub: 'bulk' })
    // The quota is 3 per subject here: each bulk run is ended at once.
    for (let i = 0; i < 101; i++) {
      await h.call('POST', '/v1/runs', { id: `newer-${i}` }, bulk)
      await h.call('POST', `/v1/runs/newer-${i}/end`, { status: 'completed' }, bulk)
    }
    const mine = await h.token(['read'], ['old-mine'], { sub: 'mine' })
    const list = (await (await h.call('GET', '/v1/runs?limit=100', undefined, mine)).json()) as {
      runs: Array<{ id: string }>
    }
    expect(list.runs.map((r) => r.id)).toEqual(['old-mine'])
  })
})

describe('operations routes', () => {
  it('/metrics needs its token when one is set; /healthz says nothing of the backend', async () => {
    expect((await h.call('GET', '/metrics', undefined, '')).status).toBe(401)
    expect((await h.call('GET', '/metrics', undefined, 'wrong-token-0123456789')).status).toBe(401)
    const ok = await h.call('GET', '/metrics', undefined, 'metrics-token-0123456789')
    expect(ok.status).toBe(200)
    expect(await ok.text()).toMatch(/runbus_readers/)
    const health = await h.call('GET', '/healthz', undefined, '')
    expect(health.status).toBe(200)
  })
})

describe('the demo route of runbus serve', () => {
  async function serveDemo(): Promise<{ url: string; close(): Promise<void> }> {
    const stop = new AbortController()
    const web = createWebRoutes({
      baseUrl: h.url,
      secret: SECRET,
      agentToken: h.admin,
      speed: 100,
      signal: stop.signal,
    })
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const request = toRequest(req, res)
      void web(request).then(async (response) => {
        if (response) await writeResponse(response, res)
        else h.hub.node(req, res)
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async close() {
        stop.abort()
        server.closeAllConnections()
        await new Promise((r) => server.close(r))
      },
    }
  }

  it('needs write scope on every run, and a small body', async () => {
    const demo = await serveDemo()
    try {
      const post = (tok: string | undefined, body = '{}') =>
        fetch(`${demo.url}/demo/runs`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(tok ? { authorization: `Bearer ${tok}` } : {}),
          },
          body,
        })
      expect((await post(undefined)).status).toBe(401)
      expect((await post(await h.token(['read'], '*', { sub: 'reader' }))).status).toBe(403)
      expect((await post(await h.token(['write'], ['one-run'], { sub: 'scoped' }))).status).toBe(
        403,
      )
      const big = await post(h.admin, JSON.stringify({ speed: 1, pad: 'x'.repeat(200_000) }))
      expect(big.status).toBe(413)
    } finally {
      await demo.close()
    }
  })

  it('demo asks expire, so an unanswered demo run ends and frees its slot', async () => {
    const stop = new AbortController()
    const { runId, done } = await startDemoAgent({
      baseUrl: h.url,
      token: await h.token(['read', 'write', 'answer'], '*', { sub: 'demo-agent' }),
      speed: 100,
      signal: stop.signal,
    })
    let pending: Array<{ expiresAt?: number }> = []
    for (let i = 0; i < 500 && pending.length === 0; i++) {
      pending = await h.rb.asks.pending({ run: runId })
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 20))
    }
    expect(pending).toHaveLength(1)
    expect(typeof pending[0].expiresAt).toBe('number')
    stop.abort()
    await done.catch(() => undefined)
  })

  it('serves the same file whatever the Host header says', async () => {
    const demo = await serveDemo()
    try {
      const port = new URL(demo.url).port
      const get = (host: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          import('node:http')
            .then(({ request }) => {
              const req = request(
                { host: '127.0.0.1', port, path: '/', headers: { host } },
                (res) => {
                  let body = ''
                  res.setEncoding('utf8')
                  res.on('data', (c: string) => (body += c))
                  res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
                },
              )
              req.on('error', reject)
              req.end()
            })
            .catch(reject)
        })
      const normal = await get(`127.0.0.1:${port}`)
      expect(normal.status).toBe(200)
      for (const host of ['evil.example/assets', 'x/../../etc', 'a?b#c']) {
        const odd = await get(host)
        expect(odd).toEqual(normal)
      }
    } finally {
      await demo.close()
    }
  })
})
