/**
 * Serves a Web `fetch` handler on `node:http` the generic way: a `Request` per request, the
 * `Response` body pumped to the socket with back-pressure. What frameworks' Node adapters
 * do; `runbus serve` uses it only for the demo page's routes (the hub itself is served by
 * `hub.node`, which the benchmark measured faster), and the hub benchmark uses it to
 * measure `hub.fetch` on Node.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'

/** Builds a Web `Request` from a Node request (its body streamed, aborted when the peer leaves). */
export function toRequest(req: IncomingMessage, res: ServerResponse): Request {
  const ac = new AbortController()
  res.on('close', () => ac.abort())
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const item of v) headers.append(k, item)
    else headers.set(k, v)
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  const init: RequestInit & { duplex?: 'half' } = {
    method: req.method ?? 'GET',
    headers,
    signal: ac.signal,
  }
  if (hasBody) {
    init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>
    init.duplex = 'half'
  }
  // The URL is built from the request's path only: the Host header is the caller's to
  // write, and must not decide which file or route answers.
  const path = req.url !== undefined && req.url.startsWith('/') ? req.url : '/'
  return new Request(`http://localhost${path}`, init)
}

/** Writes a Web `Response` to a Node response, streaming its body with back-pressure. */
export async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {}
  response.headers.forEach((v, k) => {
    headers[k] = v
  })
  res.writeHead(response.status, headers)
  if (!response.body) {
    res.end()
    return
  }
  res.flushHeaders()
  const reader = response.body.getReader()
  res.on('close', () => {
    reader.cancel().catch(() => undefined)
  })
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (!res.write(value)) await new Promise((r) => res.once('drain', r))
    }
    res.end()
  } catch {
    res.destroy()
  }
}

/**
 * A `node:http` listener over a `fetch`-style handler.
 *
 * @example
 * ```ts
 * http.createServer(fetchListener(hub.fetch)).listen(8787)
 * ```
 */
export function fetchListener(
  handler: (request: Request) => Promise<Response>,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    let request: Request
    try {
      request = toRequest(req, res)
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 'invalid_argument', message: 'malformed request' } }))
      return
    }
    handler(request)
      .then((response) => writeResponse(response, res))
      .catch(() => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { code: 'internal', message: 'internal error' } }))
        } else res.destroy()
      })
  }
}
