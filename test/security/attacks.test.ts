/**
 * Attacks on a real hub over real HTTP (a free loopback port): each must be refused with
 * the right status, and the hub must serve a normal reader afterwards. Timeouts are set
 * short here so the suite measures them; the numbers observed are printed.
 */
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SECRET, raw, startSecHub, until, type SecHub } from './helpers.js'

const nested = (n: number): string => '['.repeat(n) + '1' + ']'.repeat(n)
const deepObject = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n)

let h: SecHub
beforeAll(async () => {
  h = await startSecHub({
    hub: {
      limits: {
        headersTimeoutMs: 600,
        requestTimeoutMs: 1_500,
        bodyIdleTimeoutMs: 400,
        maxConnectionsPerAddress: 40,
      },
    },
  })
})
afterAll(async () => {
  await h?.close()
})

async function status(res: Response): Promise<{ status: number; code: string | undefined }> {
  const text = await res.text()
  let code: string | undefined
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code
  } catch {
    code = undefined
  }
  return { status: res.status, code }
}

describe('tokens (already held)', () => {
  it('refuses forged, expired, alg-none and cross-run tokens', async () => {
    const forged = await new SignJWT({ scope: ['admin'], runs: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-0123456789abcdef'))
    expect(await status(await h.call('GET', '/v1/runs', undefined, forged))).toMatchObject({
      status: 401,
    })
    const none =
      Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url') +
      '.' +
      Buffer.from(JSON.stringify({ sub: 'x', scope: ['admin'], runs: '*', exp: 9e9 })).toString(
        'base64url',
      ) +
      '.'
    expect((await h.call('GET', '/v1/runs', undefined, none)).status).toBe(401)
    const expired = await new SignJWT({ scope: ['admin'], runs: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('late')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(new TextEncoder().encode(SECRET))
    expect((await h.call('GET', '/v1/runs', undefined, expired)).status).toBe(401)
    await (await h.call('POST', '/v1/runs', { id: 'mine' })).body?.cancel()
    await (await h.call('POST', '/v1/runs', { id: 'theirs' })).body?.cancel()
    const mine = await h.token(['read', 'write'], ['mine'])
    expect((await h.call('GET', '/v1/runs/theirs', undefined, mine)).status).toBe(403)
    expect((await h.call('POST', '/v1/runs/theirs/events', { type: 'x' }, mine)).status).toBe(403)
    expect((await h.call('GET', '/v1/runs/theirs/events', undefined, mine)).status).toBe(403)
    await h.healthy()
  })
})

describe('paths and framing (already held)', () => {
  it('refuses traversal', async () => {
    for (const p of [
      '/../../etc/passwd',
      '/v1/runs/..%2F..%2Fetc%2Fpasswd',
      '/%2e%2e/%2e%2e/etc/passwd',
    ]) {
      const r = raw(h.port)
      const c = await r
      c.socket.write(`GET ${p} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.admin}\r\n\r\n`)
      await until(() => c.received().includes('\r\n\r\n'))
      expect(c.received()).not.toMatch(/root:/)
      expect(c.received()).toMatch(/^HTTP\/1\.1 (400|404)/)
      c.socket.destroy()
    }
    await h.healthy()
  })

  it('an event type or data cannot inject SSE frames', async () => {
    await (await h.call('POST', '/v1/runs', { id: 'sse' })).body?.cancel()
    const bad = await h.call('POST', '/v1/runs/sse/events', { type: 'x\n\nevent: end', data: 1 })
    expect(bad.status).toBe(400)
    await bad.body?.cancel()
    const ok = await h.call('POST', '/v1/runs/sse/events', {
      type: 'text',
      data: 'a\n\nevent: end\ndata: {"status":"completed"}\n\n',
    })
    expect(ok.status).toBe(201)
    await ok.body?.cancel()
    await (await h.call('POST', '/v1/runs/sse/end', { status: 'failed' })).body?.cancel()
    const res = await h.call('GET', '/v1/runs/sse/events', undefined, h.admin, {
      accept: 'text/event-stream',
    })
    const text = await res.text()
    const events = [...text.matchAll(/^event: (.*)$/gm)].map((m) => m[1])
    expect(events).toEqual(['text', 'end'])
    expect(text).toMatch(/"status":"failed"/)
    await h.healthy()
  })
})

describe('JSON depth', () => {
  it('refuses deep run meta, event data, inbox data, answers and compat bodies with 400', async () => {
    const meta = await h.call('POST', '/v1/runs', `{"id":"deep","meta":${deepObject(2300)}}`)
    expect(await status(meta)).toEqual({ status: 400, code: 'invalid_argument' })
    // Nothing was stored, and listing still answers.
    const list = await h.call('GET', '/v1/runs')
    expect(list.status).toBe(200)
    await list.body?.cancel()
    await (await h.call('POST', '/v1/runs', { id: 'deep2' })).body?.cancel()
    for (const [path, body] of [
      ['/v1/runs/deep2/events', `{"type":"t","data":${nested(100)}}`],
      ['/v1/runs/deep2/inbox', `{"type":"steer","data":${nested(100)}}`],
      ['/v1/channels/c.d', `{"data":${nested(100)}}`],
      ['/api/event/response', `{"request_id":"deep2","event":${deepObject(60_000)},"response":1}`],
      ['/api/event/get', `{"request_id":${nested(60_000)}}`],
    ] as const) {
      const r = await status(await h.call('POST', path, body))
      expect(r, path).toEqual({ status: 400, code: 'invalid_argument' })
    }
    await h.healthy()
  })
})

describe('timeouts and unread bodies', () => {
  it('closes a connection whose headers never finish (headersTimeout)', async () => {
    const c = await raw(h.port)
    c.socket.write('GET /v1/runs HTTP/1.1\r\nhost: x\r\n')
    const t = await c.closed(10_000)
    expect(t).not.toBe('open')
    console.log(`slow headers: connection ended after ${String(t)} ms (headersTimeout 600 ms)`)
    await h.healthy()
  })

  it('answers and closes a body that stalls (body idle timeout)', async () => {
    const c = await raw(h.port)
    c.socket.write(
      `POST /v1/runs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.admin}\r\n` +
        'content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"id"\r\n',
    )
    const t = await c.closed(10_000)
    expect(t).not.toBe('open')
    expect(c.received()).toMatch(/^HTTP\/1\.1 (408|504)/)
    expect(c.received()).toMatch(/connection: close/i)
    console.log(`stalled body: answered and closed after ${String(t)} ms (bodyIdleTimeout 400 ms)`)
    await h.healthy()
  })

  it('an endless chunked body is cut (requestTimeout / idle)', async () => {
    const c = await raw(h.port)
    c.socket.write(
      `POST /v1/channels/x HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.admin}\r\n` +
        'content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
    )
    const feed = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write('1\r\n \r\n')
    }, 50)
    const t = await c.closed(15_000)
    clearInterval(feed)
    expect(t).not.toBe('open')
    console.log(`endless chunked body: cut after ${String(t)} ms (requestTimeout 1500 ms)`)
    await h.healthy()
  })

  it('after a 401 the hub does not read on: the connection closes', async () => {
    const c = await raw(h.port)
    c.socket.write(
      'POST /v1/runs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
        'content-length: 100000000\r\n\r\n{"id":"x",',
    )
    const t = await c.closed(5_000)
    expect(c.received()).toMatch(/^HTTP\/1\.1 401/)
    expect(t).not.toBe('open')
    await h.healthy()
  })
})

describe('connection caps', () => {
  it('refuses streams past the per-address cap with 429 and Retry-After, then recovers', async () => {
    await (await h.call('POST', '/v1/runs', { id: 'capped' })).body?.cancel()
    const streams: Response[] = []
    let refused: Response | undefined
    for (let i = 0; i < 60 && refused === undefined; i++) {
      const res = await h.call('GET', '/v1/runs/capped/events', undefined, h.admin, {
        accept: 'text/event-stream',
      })
      if (res.status === 429) refused = res
      else streams.push(res)
    }
    const held = streams.length
    expect(refused?.status).toBe(429)
    expect(refused?.headers.get('retry-after')).toBe('5')
    await refused?.body?.cancel()
    expect(h.hub.connections().refused.address).toBeGreaterThan(0)
    expect(held).toBe(40)
    // Closing the streams frees the slots.
    for (const s of streams) await s.body?.cancel()
    await until(() => h.hub.connections().open === 0, 10_000)
    await h.healthy()
  })
})
