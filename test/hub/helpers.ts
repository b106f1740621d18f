/**
 * Test helpers for the hub: start one on a loopback port (node adapter), mint tokens, read
 * SSE streams frame by frame.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRunbus, type Runbus } from '../../src/index.js'
import type { Backend } from '../../src/contract/contract.js'
import { createHub, signToken, type Hub, type HubOptions, type Scope } from '../../src/hub/index.js'
import { fetchListener } from '../../src/hub/bridge.js'

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
  opts: Partial<HubOptions> & { backend?: Backend; adapter?: 'node' | 'web' } = {},
): Promise<TestHub> {
  const { backend, adapter, ...hubOpts } = opts
  const rb = createRunbus(backend ? { backend } : {})
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
        if (!res.ok || !res.body) {
          this.frames.push({ event: 'http-error', data: await res.json().catch(() => null) })
          return
        }
        const dec = new TextDecoder()
        let buf = ''
        const reader = res.body.getReader()
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          buf += dec.decode(value, { stream: true })
          if (ndjson) {
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
          } else {
            let i
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, i)
              buf = buf.slice(i + 2)
              if (block.startsWith(':')) {
                this.comments++
                continue
              }
              const f: Frame = { event: 'message', data: undefined }
              for (const line of block.split('\n')) {
                const j = line.indexOf(':')
                const k = line.slice(0, j)
                const v = line.slice(j + 1).replace(/^ /, '')
                if (k === 'id') f.id = v
                else if (k === 'event') f.event = v
                else if (k === 'data') f.data = JSON.parse(v)
              }
              this.frames.push(f)
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

/** Polls `pred` on each macrotask until true (for state not signalled by a stream). */
export async function eventually(
  pred: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
