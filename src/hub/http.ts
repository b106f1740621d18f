/**
 * The hub's own small view of an HTTP exchange, so one set of routes serves both the Web
 * `fetch` handler and the `node:http` adapter without building `Request`/`Response`
 * objects on the Node hot path. Streams (SSE, NDJSON) are written into a `StreamSink`
 * that each adapter provides.
 */
import { InvalidArgumentError, PayloadTooLargeError } from '../events/errors.js'
import { checkJsonDepth } from '../events/codec.js'
import { errorBody } from '../protocol/errors.js'
import type { StreamSink } from './sink.js'

/** A request as the routes see it. */
export interface HubRequest {
  readonly method: string
  readonly url: URL
  /** A header's value (names are case-insensitive), or `undefined`. */
  header(name: string): string | undefined
  /** The whole body, refusing more than `limit` bytes with `PayloadTooLargeError`. */
  body(limit: number): Promise<Uint8Array>
  /** Aborted when the peer goes away (long polls stop waiting). */
  readonly signal: AbortSignal
}

/** A plain answer: a status and a JSON (or text) body. */
export interface HubPlainResponse {
  readonly status: number
  /** Serialized with `JSON.stringify`; absent for an empty body (204). */
  readonly json?: unknown
  /** A text body with its content type, instead of `json`. */
  readonly text?: { body: string; contentType: string }
  readonly headers?: Readonly<Record<string, string>>
}

/** A streaming answer: the adapter sends the head, then hands a sink to `start`. */
export interface HubStreamResponse {
  readonly status: 200
  readonly contentType: string
  readonly headers?: Readonly<Record<string, string>>
  /** Begins writing into `sink`; the sink closes when the stream is done. */
  start(sink: StreamSink): void
  /** Releases what the handler holds for the stream when it will never start (the peer left). */
  cancel?(): void
}

/** What a route returns. */
export type HubResponse = HubPlainResponse | HubStreamResponse

/** Whether `r` streams. */
export function isStream(r: HubResponse): r is HubStreamResponse {
  return typeof (r as HubStreamResponse).start === 'function'
}

/** The headers that let browsers on other origins use the hub (PROTOCOL.md addition). */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, last-event-id, accept',
  'access-control-expose-headers': 'content-type',
  'access-control-max-age': '600',
}

/** Headers of every SSE/NDJSON stream. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
}

/** A JSON answer. */
export function json(
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): HubPlainResponse {
  return headers ? { status, json: body, headers } : { status, json: body }
}

/** The protocol's JSON error answer for any thrown value. */
export function errorResponse(err: unknown): HubPlainResponse {
  const { status, body } = errorBody(err)
  return { status, json: body }
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads and parses a JSON body of at most `limit` bytes. An empty body is `undefined`.
 * Malformed UTF-8 or JSON is an `InvalidArgumentError` (400); over the limit, 413.
 */
export async function readJson(req: HubRequest, limit: number): Promise<unknown> {
  const bytes = await req.body(limit)
  if (bytes.byteLength === 0) return undefined
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    throw new InvalidArgumentError('the body is not valid UTF-8')
  }
  if (text.trim() === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(text) as unknown
  } catch {
    throw new InvalidArgumentError('the body is not valid JSON')
  }
  // Before any route walks it: deep nesting is never data, and it overflows recursion.
  checkJsonDepth(value, 'the body')
  return value
}

/** Checks a declared `Content-Length` against the limit before reading anything. */
export function checkDeclaredLength(header: string | undefined, limit: number): void {
  if (header === undefined) return
  const n = Number(header)
  if (Number.isFinite(n) && n > limit) throw new PayloadTooLargeError(n, limit, 'request body')
}

/** Reads a Web `ReadableStream` body into bytes, stopping at `limit`. */
export async function readWebBody(
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0)
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > limit) {
        await reader.cancel().catch(() => undefined)
        throw new PayloadTooLargeError(size, limit, 'request body')
      }
      chunks.push(value)
    }
  } finally {
    reader.releaseLock()
  }
  return concat(chunks, size)
}

/** Joins chunks into one array. */
export function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(size)
  let off = 0
  for (const c of chunks) {
    out.set(c, off)
    off += c.byteLength
  }
  return out
}
