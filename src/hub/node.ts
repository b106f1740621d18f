/**
 * The `node:http` adapter: answers a `(req, res)` pair directly (Express, Fastify's raw
 * handler, `http.createServer`) without building Web `Request`/`Response` objects, and
 * streams by writing each shared frame straight to the socket. `runbus serve` uses it: the
 * hub benchmark measured it ahead of going through the Web handler.
 */
import type { IncomingMessage, ServerOptions, ServerResponse } from 'node:http'
import {
  InvalidArgumentError,
  PayloadTooLargeError,
  RunbusError,
  TimeoutError,
} from '../events/errors.js'
import { concat, errorResponse, isStream, type HubRequest, type HubResponse } from './http.js'
import { ConnectionLimitError, DEFAULT_HUB_LIMITS, type ConnectionLimiter } from './limits.js'
import { NodeResponseSink } from './sink.js'

/**
 * The `node:http` server options that bound how long a client may take to send a request
 * (`headersTimeout`, `requestTimeout`): `http.createServer(hubServerOptions(limits),
 * hub.node)`. Node's defaults (60 s / 300 s, and nothing between body chunks) let a slow
 * client hold a connection for minutes.
 *
 * @example
 * ```ts
 * const server = createServer(hubServerOptions({ headersTimeoutMs: 5_000 }), hub.node)
 * ```
 */
export function hubServerOptions(
  limits: { headersTimeoutMs?: number; requestTimeoutMs?: number } = {},
): ServerOptions {
  const headersTimeout = limits.headersTimeoutMs ?? DEFAULT_HUB_LIMITS.headersTimeoutMs
  const requestTimeout = Math.max(
    headersTimeout,
    limits.requestTimeoutMs ?? DEFAULT_HUB_LIMITS.requestTimeoutMs,
  )
  // Node looks for expired requests every connectionsCheckingInterval (default 30 s):
  // check often enough that the timeouts mean what they say.
  const connectionsCheckingInterval = Math.max(100, Math.min(1_000, headersTimeout / 4))
  return { headersTimeout, requestTimeout, keepAliveTimeout: 65_000, connectionsCheckingInterval }
}

/** A body whose sender paused longer than the idle timeout: 408, connection closed. */
class BodyTimeoutError extends TimeoutError {
  constructor(ms: number) {
    super(ms, `the request body stalled for more than ${ms} ms`)
  }
}

function urlOf(req: IncomingMessage): URL {
  const raw = req.url ?? '/'
  try {
    if (raw.startsWith('/')) return new URL(`http://hub${raw}`)
    return new URL(raw)
  } catch {
    throw new InvalidArgumentError('malformed request target')
  }
}

function readNodeBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let size = 0
    let done = false
    let idle: ReturnType<typeof setTimeout> | undefined
    const arm = (): void => {
      if (idle !== undefined) clearTimeout(idle)
      idle = setTimeout(() => finish(new BodyTimeoutError(idleMs)), idleMs)
      idle.unref?.()
    }
    const finish = (err?: Error): void => {
      if (done) return
      done = true
      if (idle !== undefined) clearTimeout(idle)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onErr)
      req.off('aborted', onAborted)
      if (err) reject(err)
      else resolve(concat(chunks, size))
    }
    const onData = (c: Buffer): void => {
      arm()
      size += c.byteLength
      if (size > limit) {
        req.pause()
        finish(new PayloadTooLargeError(size, limit, 'request body'))
        return
      }
      chunks.push(c)
    }
    const onEnd = (): void => finish()
    const onErr = (e: Error): void =>
      finish(new InvalidArgumentError(`the body could not be read: ${e.message}`))
    const onAborted = (): void => finish(new InvalidArgumentError('the request was aborted'))
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onErr)
    req.on('aborted', onAborted)
    if (req.complete && req.readableLength === 0 && !req.readable) finish()
    else arm()
  })
}

function writePlain(
  res: ServerResponse,
  r: HubResponse & { json?: unknown; text?: { body: string; contentType: string } },
  close: boolean,
): void {
  const headers: Record<string, string> = { ...r.headers }
  let body: string | undefined
  if (r.text) {
    body = r.text.body
    headers['content-type'] = r.text.contentType
  } else if (r.json !== undefined) {
    body = JSON.stringify(r.json)
    headers['content-type'] = 'application/json; charset=utf-8'
  }
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
  else if (r.status !== 204 && r.status !== 304) headers['content-length'] = '0'
  if (close) headers.connection = 'close'
  res.writeHead(r.status, headers)
  res.end(body)
}

/**
 * Builds a `(req, res)` listener from the hub's route function.
 * @internal Use `hub.node` from `createHub`.
 */
export function nodeListener(
  handle: (req: HubRequest) => Promise<HubResponse>,
  maxQueuedBytes: number,
  onError: (err: unknown) => void,
  limiter?: ConnectionLimiter,
): (req: IncomingMessage, res: ServerResponse) => void {
  const idleMs = limiter?.limits.bodyIdleTimeoutMs ?? DEFAULT_HUB_LIMITS.bodyIdleTimeoutMs
  return (req, res) => {
    // Made when a route first asks for the request's signal; dropped once a stream started
    // (its sink's close ends the stream), so a streaming connection holds none.
    let ac: AbortController | undefined
    let gone = false
    let bodyRefused = false
    let release: (() => void) | undefined
    try {
      release = limiter?.acquire(req.socket.remoteAddress)
    } catch (err) {
      refuse(req, res, err)
      return
    }
    res.on('close', () => {
      release?.()
      gone = true
      ac?.abort()
    })
    const run = async (): Promise<void> => {
      let hreq: HubRequest
      try {
        const url = urlOf(req)
        hreq = {
          method: req.method ?? 'GET',
          url,
          header: (name) => {
            const v = req.headers[name.toLowerCase()]
            return Array.isArray(v) ? v.join(', ') : v
          },
          body: async (limit) => {
            try {
              return await readNodeBody(req, limit, idleMs)
            } catch (err) {
              bodyRefused = true
              throw err
            }
          },
          get signal() {
            if (ac === undefined) {
              ac = new AbortController()
              if (gone) ac.abort()
            }
            return ac.signal
          },
        }
      } catch (err) {
        writePlain(res, errorResponse(err), true)
        return
      }
      const r = await handle(hreq)
      if (res.destroyed) {
        if (isStream(r)) r.cancel?.()
        return
      }
      if (isStream(r)) {
        res.writeHead(200, { ...r.headers, 'content-type': r.contentType })
        res.flushHeaders()
        req.socket.setNoDelay(true)
        r.start(new NodeResponseSink(res, maxQueuedBytes))
        ac = undefined
        return
      }
      // A body we refused or never read (a 401 before reading it, an endless chunked
      // upload) must not be read on, nor parsed as the next request: close the connection.
      finishPlain(req, res, r, bodyRefused || !req.complete)
    }
    run().catch((err: unknown) => {
      if (!(err instanceof RunbusError)) onError(err)
      if (!res.headersSent) finishPlain(req, res, errorResponse(err), true)
      else res.destroy()
    })
  }
}

/** Answers and, when `close`, ends the connection once the answer is out. */
function finishPlain(
  req: IncomingMessage,
  res: ServerResponse,
  r: Parameters<typeof writePlain>[1],
  close: boolean,
): void {
  writePlain(res, r, close)
  if (close) {
    // Stop reading the rest of the body; the socket ends once the answer was flushed.
    res.once('finish', () => req.destroy())
  }
}

/** A 429 with `Retry-After`, sent before anything of the request was read. */
function refuse(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const r = errorResponse(err)
  const headers =
    err instanceof ConnectionLimitError ? { 'retry-after': String(err.retryAfter) } : undefined
  finishPlain(req, res, headers === undefined ? r : { ...r, headers }, !req.complete)
}
