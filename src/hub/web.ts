/**
 * The Web-standard adapter: `(Request) => Promise<Response>`, for Hono, Next.js route
 * handlers, Bun, Deno, or any server that speaks `fetch`. Streams are a `ReadableStream`
 * whose queue is the connection's buffer (bounded: see `WebStreamSink`).
 */
import { readWebBody, isStream, type HubRequest, type HubResponse } from './http.js'
import { WebStreamSink } from './sink.js'

/**
 * Builds a `fetch`-style handler from the hub's route function.
 * @internal Use `hub.fetch` from `createHub`.
 */
export function webHandler(
  handle: (req: HubRequest) => Promise<HubResponse>,
  maxQueuedBytes: number,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const hreq: HubRequest = {
      method: request.method,
      url: new URL(request.url),
      header: (name) => request.headers.get(name) ?? undefined,
      body: (limit) => readWebBody(request.body, limit),
      signal: request.signal,
    }
    const r = await handle(hreq)
    if (isStream(r)) {
      const sink = new WebStreamSink(maxQueuedBytes)
      const onAbort = (): void => sink.abort()
      if (request.signal.aborted) sink.abort()
      else {
        request.signal.addEventListener('abort', onAbort, { once: true })
        sink.onClose(() => request.signal.removeEventListener('abort', onAbort))
      }
      r.start(sink)
      return new Response(sink.stream, {
        status: 200,
        headers: { ...r.headers, 'content-type': r.contentType },
      })
    }
    const headers = new Headers(r.headers)
    let body: string | null = null
    if (r.text) {
      body = r.text.body
      headers.set('content-type', r.text.contentType)
    } else if (r.json !== undefined) {
      body = JSON.stringify(r.json)
      headers.set('content-type', 'application/json; charset=utf-8')
    }
    return new Response(r.status === 204 ? null : body, { status: r.status, headers })
  }
}
