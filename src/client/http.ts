/**
 * The client's one door to the hub: builds URLs and headers, sends JSON, and turns every
 * failure into a {@link HubError} (the hub's `{ error: { code, message } }` body and the
 * HTTP status; status 0 when the hub could not be reached). Web-standard only: runs in
 * browsers and Node 20 alike.
 */
import { abortReason } from '../events/deadline.js'
import { HubError } from '../events/errors.js'
import { errorFromWire } from '../protocol/errors.js'

/** The `fetch` the client calls (the global one unless the caller injects another). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

/** What every request needs to know about the hub. */
export interface Transport {
  readonly baseUrl: string
  readonly fetch: FetchLike
  /** The bearer token, read per request so a caller can rotate it. */
  token(): string | undefined
}

/** Joins the base URL and a path, keeping any path prefix the base URL has. */
export function urlOf(transport: Transport, path: string, query?: Record<string, string>): string {
  const base = transport.baseUrl.replace(/\/+$/, '')
  let url = base + path
  if (query) {
    const qs = new URLSearchParams(query).toString()
    if (qs) url += (url.includes('?') ? '&' : '?') + qs
  }
  return url
}

/** Encodes one path segment (run ids, ask ids, channel names). */
export function seg(value: string): string {
  return encodeURIComponent(value)
}

/** Headers every request carries, with the token when there is one. */
export function headersOf(transport: Transport, extra?: Record<string, string>): Headers {
  const headers = new Headers(extra)
  const token = transport.token()
  if (token) headers.set('authorization', `Bearer ${token}`)
  return headers
}

/**
 * Reads a failed response into the typed error the hub raised (`RunNotFoundError` for
 * `run_not_found`, …), which is also a {@link HubError} with the HTTP `status`; a body that
 * is not a runbus error gives a `HubError` with code `http_error`.
 */
export async function errorOf(response: Response): Promise<HubError> {
  let text = ''
  try {
    text = await response.text()
  } catch {
    // The body could not be read; the status says enough.
  }
  let body: unknown
  try {
    body = JSON.parse(text) as unknown
  } catch {
    const line = `${response.status} ${response.statusText}`.trim()
    return new HubError(
      response.status,
      'http_error',
      text.trim() ? `${line}: ${text.trim().slice(0, 200)}` : line,
    )
  }
  return errorFromWire(response.status, body)
}

/**
 * Calls `fetch`, mapping a network failure to `HubError(0, 'unreachable')` and an abort to
 * the signal's reason (or `AbortedError` when it has none).
 */
export async function send(
  transport: Transport,
  url: string,
  init: RequestInit,
): Promise<Response> {
  try {
    return await transport.fetch(url, init)
  } catch (err) {
    const signal = init.signal ?? undefined
    if (signal?.aborted) throw abortReason(signal)
    throw new HubError(0, 'unreachable', `could not reach the hub at ${url}`, { cause: err })
  }
}

/**
 * Sends one JSON request and returns the parsed JSON answer (`undefined` for an empty
 * body). Throws {@link HubError} on any non-2xx status.
 */
export async function requestJson<T>(
  transport: Transport,
  method: string,
  path: string,
  options: { body?: unknown; query?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<T> {
  const headers = headersOf(transport, { accept: 'application/json' })
  const init: RequestInit = { method, headers }
  if (options.body !== undefined) {
    headers.set('content-type', 'application/json')
    init.body = JSON.stringify(options.body)
  }
  if (options.signal) init.signal = options.signal
  const response = await send(transport, urlOf(transport, path, options.query), init)
  if (!response.ok) throw await errorOf(response)
  const text = await response.text()
  if (!text) return undefined as T
  try {
    return JSON.parse(text) as T
  } catch (err) {
    throw new HubError(response.status, 'decode_failed', 'the hub answered with invalid JSON', {
      cause: err,
    })
  }
}
