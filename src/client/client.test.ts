import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AskAnsweredError, HubError } from '../events/errors.js'
import { epochTagOf, eventIdOf, type RunEvent } from '../events/envelope.js'
import {
  backoffDelay,
  createClient,
  DEFAULT_RECONNECT_BACKOFF,
  type Follow,
  type GapNotice,
  type StateChange,
} from './index.js'

/**
 * A tiny scriptable hub: the n-th request to the events route is answered by the n-th
 * script (the last one repeats), so each test states exactly what each connection sees.
 */
type Script = (req: IncomingMessage, res: ServerResponse, n: number) => void

interface TestHub {
  url: string
  requests: IncomingMessage[]
  /** Resolves when the n-th (1-based) request to the events route has closed. */
  closedRequests: number
  waitClosed(n: number): Promise<void>
  server: Server
}

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

async function hub(scripts: Script[], other?: Script): Promise<TestHub> {
  const state = {
    requests: [] as IncomingMessage[],
    closedRequests: 0,
    waiters: [] as Array<{ n: number; resolve: () => void }>,
  }
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || !req.url?.includes('/events')) {
      if (other) return other(req, res, 0)
      res.writeHead(404).end()
      return
    }
    const n = state.requests.push(req)
    res.on('close', () => {
      state.closedRequests++
      for (const w of state.waiters.filter((w) => state.closedRequests >= w.n)) w.resolve()
    })
    const script = scripts[Math.min(n, scripts.length) - 1]
    script(req, res, n)
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    get requests() {
      return state.requests
    },
    get closedRequests() {
      return state.closedRequests
    },
    waitClosed(n) {
      if (state.closedRequests >= n) return Promise.resolve()
      return new Promise((resolve) => state.waiters.push({ n, resolve }))
    },
  }
}

function env(seq: number, type = 'text', data: unknown = `t${seq}`): RunEvent {
  return { id: String(seq), run: 'r1', seq, type, data, ts: 1_700_000_000_000 + seq }
}

function frame(e: RunEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`
}

function open(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
  res.flushHeaders()
}

/** Sends events from..to (inclusive), then either the end or a cut of the socket. */
function serve(from: number, to: number, then: 'end' | 'cut' | 'hold'): Script {
  return (_req, res) => {
    open(res)
    for (let s = from; s <= to; s++) res.write(frame(env(s)))
    if (then === 'end') {
      res.write(frame(env(to + 1, 'end', { status: 'completed' })))
      res.end()
    } else if (then === 'cut') {
      // Let the bytes leave, then drop the connection the way a proxy would.
      res.once('finish', () => res.socket?.destroy())
      res.end()
    }
  }
}

async function collect(follow: Follow): Promise<RunEvent[]> {
  const out: RunEvent[] = []
  for await (const e of follow) out.push(e)
  return out
}

const fast = { backoff: { initialMs: 5, maxMs: 20 } }

describe('backoffDelay', () => {
  it('stays within full-jitter bounds [0, min(max, initial * 2^(attempt-1))], attempt 1 first', () => {
    const opts = { initialMs: 100, maxMs: 1000 }
    for (let attempt = 1; attempt < 80; attempt++) {
      const ceiling = Math.min(1000, 100 * 2 ** (attempt - 1))
      expect(backoffDelay(attempt, opts, () => 0)).toBe(0)
      const hi = backoffDelay(attempt, opts, () => 0.999999)
      expect(hi).toBeLessThanOrEqual(ceiling)
      expect(hi).toBeGreaterThanOrEqual(Math.floor(ceiling * 0.999))
    }
    expect(backoffDelay(5000, opts, () => 0.5)).toBe(500)
    expect(backoffDelay(1, DEFAULT_RECONNECT_BACKOFF, () => 0.5)).toBe(125)
  })

  it('refuses the old back-off names of work queues, with the new name as a hint', () => {
    const client = createClient({ baseUrl: 'http://127.0.0.1:9' })
    expect(() => client.follow('r1', { backoff: { base: 5 } as never })).toThrow(
      /unknown option "base" \(renamed "initialMs"/,
    )
  })
})

describe('follow', () => {
  it('resumes from the last id after the connection drops, with Last-Event-ID', async () => {
    const h = await hub([serve(1, 4, 'cut'), serve(5, 9, 'cut'), serve(10, 12, 'end')])
    const client = createClient({ baseUrl: h.url, token: 'secret-token' })
    const follow = client.follow('r1', fast)
    const events = await collect(follow)
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    expect(events.at(-1)!.type).toBe('end')
    expect(follow.end).toEqual({ status: 'completed' })
    expect(follow.reconnects).toBe(2)
    expect(follow.duplicatesDropped).toBe(0)
    expect(h.requests.map((r) => r.headers['last-event-id'])).toEqual([undefined, '4', '9'])
    expect(h.requests.every((r) => r.headers.authorization === 'Bearer secret-token')).toBe(true)
    expect(h.requests.every((r) => !r.url!.includes('token'))).toBe(true)
    await follow.closed
    expect(follow.state).toBe('closed')
  })

  it('drops events it already delivered when a hub replays them after a resume', async () => {
    // A hub that ignores Last-Event-ID and replays from 2 on every connection.
    const h = await hub([serve(1, 5, 'cut'), serve(2, 8, 'cut'), serve(2, 10, 'end')])
    const follow = createClient({ baseUrl: h.url }).follow('r1', fast)
    const dups: number[] = []
    follow.on('duplicate', (e) => dups.push(e.seq))
    const events = await collect(follow)
    const seqs = events.map((e) => e.seq)
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length)
    expect(follow.duplicatesDropped).toBe(4 + 7)
    expect(dups).toEqual([2, 3, 4, 5, 2, 3, 4, 5, 6, 7, 8])
  })

  it('sends ?after= (live: the last id) on the first connection only, and drops ids at or before it', async () => {
    const h = await hub([serve(2, 4, 'cut'), serve(5, 5, 'end')])
    const events = await collect(
      createClient({ baseUrl: h.url }).follow('r1', { ...fast, after: '3' }),
    )
    expect(events.map((e) => e.seq)).toEqual([4, 5, 6])
    expect(h.requests[0].url).toBe('/v1/runs/r1/events?after=3')
    expect(h.requests[1].url).toBe('/v1/runs/r1/events')
    expect(h.requests[1].headers['last-event-id']).toBe('4')

    // live: the run's last id is read once, then used as `after`, so a cut loses nothing.
    const live = await hub([serve(7, 7, 'cut'), serve(8, 8, 'end')], (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ id: 'r 1/x', status: 'running', lastId: '6', url: req.url }))
    })
    const seqs = (
      await collect(createClient({ baseUrl: live.url }).follow('r 1/x', { ...fast, live: true }))
    ).map((e) => e.seq)
    expect(seqs).toEqual([7, 8, 9])
    expect(live.requests[0].url).toBe('/v1/runs/r%201%2Fx/events?after=6')
    expect(live.requests[1].headers['last-event-id']).toBe('7')
  })

  it('surfaces a gap the hub reports, and one it did not, as gap events', async () => {
    const h = await hub([
      (_req, res) => {
        open(res)
        res.write(`event: gap\ndata: ${JSON.stringify({ from: '1', to: '3' })}\n\n`)
        res.write(frame(env(4)) + frame(env(5)) + frame(env(8)))
        res.write(frame(env(9, 'end', { status: 'failed', error: 'boom' })))
        res.end()
      },
    ])
    const follow = createClient({ baseUrl: h.url }).follow('r1')
    const notices: GapNotice[] = []
    follow.on('gap', (g) => notices.push(g))
    const events = await collect(follow)
    expect(events.map((e) => `${e.type}:${e.seq}`)).toEqual([
      'gap:3',
      'text:4',
      'text:5',
      'gap:7',
      'text:8',
      'end:9',
    ])
    expect(events[0].data).toEqual({ from: '1', to: '3' })
    expect(events[3].data).toEqual({ from: '6', to: '7' })
    expect(notices).toEqual([
      { from: '1', to: '3', source: 'hub' },
      { from: '6', to: '7', source: 'client' },
    ])
    expect(follow.gaps).toBe(5)
    expect(follow.end).toEqual({ status: 'failed', error: 'boom' })
  })

  it('a gap it finds itself names ids of the run the events came from (their incarnation)', async () => {
    const tag = epochTagOf(1_700_000_000_000)
    const tagged = (seq: number, type = 'text'): RunEvent => ({
      ...env(seq, type, type === 'end' ? { status: 'completed' } : `t${seq}`),
      id: eventIdOf(seq, tag),
    })
    const h = await hub([
      (_req, res) => {
        open(res)
        res.write(frame(tagged(1)) + frame(tagged(4)) + frame(tagged(5, 'end')))
        res.end()
      },
    ])
    const follow = createClient({ baseUrl: h.url }).follow('r1')
    const notices: GapNotice[] = []
    follow.on('gap', (g) => notices.push(g))
    const events = await collect(follow)
    expect(events.map((e) => `${e.type}:${e.seq}`)).toEqual(['text:1', 'gap:3', 'text:4', 'end:5'])
    expect(notices).toEqual([{ from: eventIdOf(2, tag), to: eventIdOf(3, tag), source: 'client' }])
    expect(events[1].id).toBe(eventIdOf(3, tag))
    expect(follow.lastId).toBe(eventIdOf(5, tag))
  })

  it('resumes past a gap instead of asking for the lost ids again', async () => {
    const h = await hub([
      (_req, res) => {
        open(res)
        res.write(`event: gap\ndata: ${JSON.stringify({ from: '1', to: '5' })}\n\n`)
        res.once('finish', () => res.socket?.destroy())
        res.end()
      },
      serve(6, 6, 'end'),
    ])
    const events = await collect(createClient({ baseUrl: h.url }).follow('r1', fast))
    expect(events.map((e) => e.type)).toEqual(['gap', 'text', 'end'])
    expect(h.requests[1].headers['last-event-id']).toBe('5')
  })

  it('backs off with full jitter within the cap while the hub refuses, then connects', async () => {
    const refuse: Script = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 'backend_unavailable', message: 'down' } }))
    }
    const h = await hub([refuse, refuse, refuse, refuse, refuse, serve(1, 2, 'end')])
    const backoff = { initialMs: 4, maxMs: 16 }
    const follow = createClient({ baseUrl: h.url }).follow('r1', { backoff })
    const states: StateChange[] = []
    const errors: unknown[] = []
    follow.on('state', (s) => states.push(s))
    follow.on('error', (e) => errors.push(e))
    const events = await collect(follow)
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3])
    const waits = states.filter((s) => s.state === 'reconnecting')
    expect(waits).toHaveLength(5)
    waits.forEach((s, i) => {
      expect(s.delayMs).toBeGreaterThanOrEqual(0)
      expect(s.delayMs).toBeLessThanOrEqual(Math.min(16, 4 * 2 ** i))
      expect(s.error).toBeInstanceOf(HubError)
      expect(s.reconnects).toBe(i + 1)
    })
    expect(errors).toHaveLength(5)
    expect((errors[0] as HubError).code).toBe('backend_unavailable')
    expect((errors[0] as HubError).status).toBe(503)
    expect(states.map((s) => s.state)).toEqual([
      'reconnecting',
      'reconnecting',
      'reconnecting',
      'reconnecting',
      'reconnecting',
      'connected',
      'closed',
    ])
  })

  it('fails at once, without retrying, on 401/403/404, with the hub error code and status', async () => {
    const h = await hub([
      (_req, res) => {
        res.writeHead(403, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { code: 'forbidden', message: 'not your run' } }))
      },
    ])
    const follow = createClient({ baseUrl: h.url }).follow('r1', fast)
    const err = await collect(follow).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HubError)
    expect(err).toMatchObject({ code: 'forbidden', status: 403, message: 'not your run' })
    expect(h.requests).toHaveLength(1)
    await follow.closed
    expect(follow.state).toBe('closed')
  })

  it('abort releases everything: the request, the iterator, the closed promise', async () => {
    const h = await hub([serve(1, 2, 'hold')])
    const ac = new AbortController()
    const follow = createClient({ baseUrl: h.url }).follow('r1', { signal: ac.signal })
    const seen: number[] = []
    const reason = new Error('stop now')
    const done = (async () => {
      for await (const e of follow) {
        seen.push(e.seq)
        if (e.seq === 2) ac.abort(reason)
      }
    })()
    await expect(done).rejects.toBe(reason)
    await follow.closed
    await h.waitClosed(1) // the hub saw the connection go
    expect(seen).toEqual([1, 2])
    expect(follow.state).toBe('closed')
  })

  it('close() during a back-off wait returns at once and stops reconnecting', async () => {
    const h = await hub([serve(1, 1, 'cut')])
    const follow = createClient({ baseUrl: h.url }).follow('r1', {
      backoff: { initialMs: 600_000, maxMs: 600_000 },
    })
    const it = follow[Symbol.asyncIterator]()
    expect((await it.next()).value!.seq).toBe(1)
    await new Promise<void>((resolve) => {
      follow.on('state', (s) => s.state === 'reconnecting' && resolve())
    })
    const pending = it.next()
    await follow.close()
    await expect(pending).resolves.toEqual({ done: true, value: undefined })
    expect(h.requests).toHaveLength(1)
    expect(follow.state).toBe('closed')
  })

  it('is disposable with await using, and iterable only once', async () => {
    const h = await hub([serve(1, 3, 'hold')])
    const client = createClient({ baseUrl: h.url })
    let captured: Follow | undefined
    {
      await using follow = client.follow('r1')
      captured = follow
      for await (const e of follow) if (e.seq === 3) break
      expect(() => follow[Symbol.asyncIterator]()).toThrow(/only once/)
    }
    await captured.closed
    await h.waitClosed(1)
    expect(captured.state).toBe('closed')
  })

  it('reconnects when the hub goes silent past the idle timeout, and on reconnect()', async () => {
    const h = await hub([serve(1, 1, 'hold'), serve(2, 2, 'hold'), serve(3, 3, 'end')])
    const follow = createClient({ baseUrl: h.url }).follow('r1', { ...fast, idleTimeoutMs: 50 })
    const errors: unknown[] = []
    follow.on('error', (e) => errors.push(e))
    const seqs: number[] = []
    for await (const e of follow) {
      seqs.push(e.seq)
      // The second connection is cut by hand before the idle timer could fire.
      if (e.seq === 2) follow.reconnect()
    }
    expect(seqs).toEqual([1, 2, 3, 4])
    expect((errors[0] as HubError).code).toBe('idle_timeout')
    expect(follow.reconnects).toBe(2)
    expect(h.requests.map((r) => r.headers['last-event-id'])).toEqual([undefined, '1', '2'])
  })

  it('stops reading from the socket past the high-water mark, then catches up', async () => {
    const h = await hub([serve(1, 200, 'end')])
    const follow = createClient({ baseUrl: h.url }).follow('r1', { highWaterMark: 8 })
    const it = follow[Symbol.asyncIterator]()
    const first = await it.next()
    expect(first.value!.seq).toBe(1)
    const rest = []
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value.seq)
    expect(rest).toEqual(Array.from({ length: 200 }, (_, i) => i + 2))
  })

  it('fails loudly on a frame that is not an envelope', async () => {
    const h = await hub([
      (_req, res) => {
        open(res)
        res.write('event: text\ndata: {not json\n\n')
      },
    ])
    const follow = createClient({ baseUrl: h.url }).follow('r1')
    await expect(collect(follow)).rejects.toMatchObject({ code: 'decode_failed' })
    await h.waitClosed(1)
  })
})

describe('requests', () => {
  it('sends JSON with the token and maps hub errors to HubError', async () => {
    const seen: Array<{ method: string; url: string; body: string; auth?: string }> = []
    const h = await hub([], (req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, body, auth: req.headers.authorization })
        const json = (status: number, value: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' })
          res.end(JSON.stringify(value))
        }
        if (req.url === '/v1/runs' && req.method === 'POST')
          return json(201, { run: { id: 'r9', status: 'running' }, tokens: { read: 'rt' } })
        if (req.url === '/v1/runs/r9') return json(200, { id: 'r9', status: 'running', readers: 2 })
        if (req.url === '/v1/runs/r9/events') return json(201, { ids: ['1', '2'] })
        if (req.url === '/v1/asks/a1/answer')
          return json(409, { error: { code: 'ask_answered', message: 'already answered' } })
        if (req.url === '/v1/runs/r9/asks?state=pending')
          return json(200, { asks: [{ id: 'a1', state: 'pending' }] })
        if (req.url === '/v1/runs/r9/inbox') return json(202, { id: '1' })
        res.writeHead(500).end('<html>oops</html>')
      })
    })
    let token = 'one'
    const client = createClient({ baseUrl: h.url + '/', token: () => token })
    expect(await client.createRun({ meta: { a: 1 } })).toEqual({
      run: { id: 'r9', status: 'running' },
      tokens: { read: 'rt' },
    })
    expect((await client.getRun('r9')).readers).toBe(2)
    token = 'two'
    expect(await client.append('r9', [{ type: 'text', data: 'a' }, { type: 'text' }])).toEqual([
      '1',
      '2',
    ])
    expect(await client.listAsks('r9', { state: 'pending' })).toEqual([
      { id: 'a1', state: 'pending' },
    ])
    await client.send('r9', { type: 'interrupt' })
    const err = await client.answer('a1', true).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HubError)
    expect(err).toBeInstanceOf(AskAnsweredError)
    expect(err).toMatchObject({ code: 'ask_answered', status: 409, message: 'already answered' })
    const crash = await client.publish('ch', 1).catch((e: unknown) => e)
    expect(crash).toBeInstanceOf(HubError)
    expect(crash).toMatchObject({ code: 'http_error', status: 500 })
    expect((crash as Error).message).toContain('oops')
    expect(seen[0]).toMatchObject({ method: 'POST', body: '{"meta":{"a":1}}', auth: 'Bearer one' })
    expect(seen[2]).toMatchObject({ auth: 'Bearer two' })
    expect(seen.at(-2)).toMatchObject({ url: '/v1/asks/a1/answer', body: '{"answer":true}' })
    expect(seen.at(-1)).toMatchObject({ url: '/v1/channels/ch', body: '{"data":1}' })
  })

  it('reports an unreachable hub as HubError status 0, and an aborted call with its reason', async () => {
    const h = await hub([])
    const url = h.url
    await new Promise((r) => h.server.close(r))
    servers.splice(servers.indexOf(h.server), 1)
    const client = createClient({ baseUrl: url })
    await expect(client.getRun('x')).rejects.toMatchObject({ code: 'unreachable', status: 0 })
    const ac = new AbortController()
    const reason = new Error('cancelled')
    ac.abort(reason)
    await expect(client.getRun('x', { signal: ac.signal })).rejects.toBe(reason)
  })
})

describe('browser safety', () => {
  it('imports nothing from node:* (nor any bare module but eventsource-parser), all the way down', async () => {
    const seen = new Set<string>()
    const bare = new Set<string>()
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return
      seen.add(file)
      // Comments hold usage examples (`from 'runbus/client'`): only code counts.
      const source = (await readFile(file, 'utf8'))
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '')
      for (const m of source.matchAll(
        /(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g,
      )) {
        const spec = m[1] ?? m[2]
        // `import type` / `export type` are erased from the emitted JavaScript: no runtime load.
        if (/^(?:import|export)\s+type\s/.test(m[0]) && !spec.startsWith('.')) continue
        if (spec.startsWith('.')) await visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
        else bare.add(spec)
      }
    }
    await visit(resolve(dirname(fileURLToPath(import.meta.url)), 'index.ts'))
    expect([...bare]).toEqual(['eventsource-parser'])
    expect(seen.size).toBeGreaterThanOrEqual(5)
  })
})
