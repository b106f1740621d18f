/**
 * The one set of test helpers for the hub: start one on a loopback port (node or web
 * adapter), mint tokens, read SSE/NDJSON streams frame by frame (with the protocol's one SSE
 * parser). The polling wait (`until`), `draft()` and the SSE parser are the shared ones of
 * `test/helpers/`.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRunbus, type Runbus, type RunbusOptions } from '../../src/index.js'
import type { Backend } from '../../src/contract/contract.js'
import { createHub, signToken, type Hub, type HubOptions, type Scope } from '../../src/hub/index.js'
import { fetchListener } from '../../src/hub/bridge.js'
import { SseParser } from '../../src/protocol/framing.js'
import { parseSse as parseMessages } from '../helpers/sse.js'

export const SECRET = 'test-secret-0123456789abcdef'

export interface TestHub {
  rb: Runbus
  hub: Hub
  server: Server
  url: string
  token(scope?: Scope[], runs?: string[] | '*', ttlSeconds?: number): Promise<string>
  admin: string
  /** fetch against the hub with an admin token unless `token` is given ('' = none). */
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    headers?: Record<string, string>,
  ): Promise<Response>
  close(): Promise<void>
}

export async function startHub(
  opts: Partial<HubOptions> & {
    backend?: Backend
    adapter?: 'node' | 'web'
    /** Options of the instance the hub serves (its limits, retention, follow settings). */
    core?: Omit<RunbusOptions, 'backend'>
  } = {},
): Promise<TestHub> {
  const { backend, adapter, core, ...hubOpts } = opts
  const rb = createRunbus({ ...core, ...(backend ? { backend } : {}) })
  const hub = createHub({
    runbus: rb,
    secret: SECRET,
    onError: (e) => console.error(e),
    ...hubOpts,
  })
  const server = createServer(adapter === 'web' ? fetchListener(hub.fetch) : hub.node)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const token = (scope: Scope[] = ['admin'], runs: string[] | '*' = '*', ttlSeconds = 3600) =>
    signToken(SECRET, { scope, runs, ttlSeconds })
  const admin = await token()
  return {
    rb,
    hub,
    server,
    url,
    token,
    admin,
    async call(method, path, body, tok = admin, headers = {}) {
      const h: Record<string, string> = { ...headers }
      if (tok !== '') h.authorization = `Bearer ${tok}`
      if (body !== undefined) h['content-type'] = 'application/json'
      return fetch(url + path, {
        method,
        headers: h,
        body:
          body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      })
    },
    async close() {
      await hub.close()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      await rb.close()
    },
  }
}

export interface Frame {
  id?: string
  event: string
  data: ReturnType<typeof JSON.parse>
}

function frameOf(m: { id?: string; event: string; data: string }): Frame {
  const f: Frame = { event: m.event, data: JSON.parse(m.data) }
  if (m.id !== undefined) f.id = m.id
  return f
}

/** The SSE frames in `text` (comments skipped), parsed by the protocol's parser. */
export function parseSse(text: string): Frame[] {
  return parseMessages(text).map(frameOf)
}

/** An SSE (or NDJSON) reader over fetch, collecting frames. */
export class StreamReader {
  frames: Frame[] = []
  comments = 0
  done: Promise<void>
  closed = false
  status = 0
  headers: Headers | undefined
  readonly ac = new AbortController()
  #waiters: Array<() => void> = []

  constructor(url: string, headers: Record<string, string> = {}, ndjson = false) {
    this.done = (async () => {
      try {
        const res = await fetch(url, { headers, signal: this.ac.signal })
        this.status = res.status
        this.headers = res.headers
        this.#wake()
        if (!res.ok || !res.body) {
          this.frames.push({ event: 'http-error', data: await res.json().catch(() => null) })
          return
        }
        const dec = new TextDecoder()
        let buf = ''
        const sse = new SseParser({
          onMessage: (m) => this.frames.push(frameOf(m)),
          onComment: () => this.comments++,
        })
        const reader = res.body.getReader()
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          if (!ndjson) sse.feed(value)
          else {
            buf += dec.decode(value, { stream: true })
            let i
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i)
              buf = buf.slice(i + 1)
              if (line.trim() === '') this.comments++
              else {
                const data = JSON.parse(line)
                this.frames.push({ id: data.id, event: data.type ?? data.event, data })
              }
            }
          }
          this.#wake()
        }
      } catch {
        // aborted or cut
      } finally {
        this.closed = true
        this.#wake()
      }
    })()
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  /** Waits until `pred` holds (re-checked on every chunk), failing after `ms`. */
  async until(pred: (r: this) => boolean, what = 'condition', ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!pred(this)) {
      if (this.closed && !pred(this))
        throw new Error(`stream closed before ${what}: ${JSON.stringify(this.frames)}`)
      const left = deadline - Date.now()
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(this.frames)}`)
      await new Promise<void>((r) => {
        const t = setTimeout(r, left)
        this.#waiters.push(() => {
          clearTimeout(t)
          r()
        })
      })
    }
  }

  events(): Frame[] {
    return this.frames.filter((f) => f.event !== 'gap')
  }

  close(): void {
    this.ac.abort()
  }
}
