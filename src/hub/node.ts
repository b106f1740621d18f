/**
 * The `node:http` adapter: answers a `(req, res)` pair directly (Express, Fastify's raw
 * handler, `http.createServer`) without building Web `Request`/`Response` objects, and
 * streams by writing each shared frame straight to the socket. `runbus serve` uses it: the
 * hub benchmark measured it ahead of going through the Web handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { InvalidArgumentError, PayloadTooLargeError } from '../events/errors.js'
import { concat, errorResponse, isStream, type HubRequest, type HubResponse } from './http.js'
import { NodeResponseSink } from './sink.js'

function urlOf(req: IncomingMessage): URL {
  const raw = req.url ?? '/'
  try {
    if (raw.startsWith('/')) return new URL(`http://hub${raw}`)
    return new URL(raw)
  } catch {
    throw new InvalidArgumentError('malformed request target')
  }
}

function readNodeBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let size = 0
    let done = false
    const finish = (err?: Error): void => {
      if (done) return
      done = true
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onErr)
      req.off('aborted', onAborted)
      if (err) reject(err)
      else resolve(concat(chunks, size))
    }
    const onData = (c: Buffer): void => {
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
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const ac = new AbortController()
    let bodyRefused = false
    res.on('close', () => ac.abort())
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
              return await readNodeBody(req, limit)
            } catch (err) {
              bodyRefused = true
              throw err
            }
          },
          signal: ac.signal,
        }
      } catch (err) {
        writePlain(res, errorResponse(err), true)
        return
      }
      const r = await handle(hreq)
      if (res.destroyed) return
      if (isStream(r)) {
        res.writeHead(200, { ...r.headers, 'content-type': r.contentType })
        res.flushHeaders()
        req.socket.setNoDelay(true)
        r.start(new NodeResponseSink(res, maxQueuedBytes))
        return
      }
      // A body we refused to read whole must not be parsed as the next request.
      writePlain(res, r, bodyRefused)
    }
    run().catch((err: unknown) => {
      onError(err)
      if (!res.headersSent) writePlain(res, errorResponse(err), true)
      else res.destroy()
    })
  }
}
