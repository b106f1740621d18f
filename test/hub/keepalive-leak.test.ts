/**
 * Streaming responses on one keep-alive socket must not leave anything on the socket: a
 * browser `EventSource` on an ended run reconnects on the same connection forever (issue 13:
 * 5,000 requests left 5,001 `drain` listeners and a MaxListenersExceededWarning).
 */
import { Agent, request } from 'node:http'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startHub, type TestHub } from './helpers.js'

let h: TestHub | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

/** GETs `path` on `agent` and reads the whole body. */
function get(agent: Agent, url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('hub: streaming responses on a keep-alive socket', () => {
  it("an ended run's SSE requested 300 times on one socket leaves no listener behind", async () => {
    const hub = await startHub()
    h = hub
    const sockets = new Set<Socket>()
    hub.server.on('connection', (s: Socket) => sockets.add(s))
    const run = await hub.rb.runs.create({ id: 'ended' })
    await run.append('text', 'hello')
    await run.end()
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const url = `${hub.url}/v1/runs/ended/events`
      const first = await get(agent, url, hub.admin)
      expect(first.status).toBe(200)
      expect(first.body).toContain('event: end')
      expect(sockets.size).toBe(1)
      const [socket] = sockets
      const before = {
        drain: socket.listenerCount('drain'),
        close: socket.listenerCount('close'),
        error: socket.listenerCount('error'),
        end: socket.listenerCount('end'),
      }
      for (let i = 0; i < 300; i++) {
        const r = await get(agent, url, hub.admin)
        expect(r.body).toContain('event: end')
      }
      expect(sockets.size, 'every request went over the one keep-alive socket').toBe(1)
      expect({
        drain: socket.listenerCount('drain'),
        close: socket.listenerCount('close'),
        error: socket.listenerCount('error'),
        end: socket.listenerCount('end'),
      }).toEqual(before)
    } finally {
      agent.destroy()
    }
  }, 60_000)
})
