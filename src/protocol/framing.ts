/**
 * The bytes of a followed run on the wire, both ways: how the hub frames envelopes, gaps
 * and keep-alives as SSE or NDJSON, and the one SSE parser the client and the tests read
 * them with.
 *
 * Each SSE frame is `id: <event id>`, `event: <type>`, `data: <the whole envelope as one
 * line of JSON>`; an NDJSON line is the envelope. The `end` frame also carries
 * `status`/`error` on top; a `gap` is shaped like an envelope whose id is the last missing
 * one (resuming after it continues right past the hole), with `from`/`to` on top too.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { eventIdOf, type GapData, type RunEnd, type RunEvent } from '../events/envelope.js'
import { DecodeError, type RunbusError } from '../events/errors.js'
import { errorBody, type WireError } from './errors.js'

/** Wire formats of a followed run (and of a bus subscription). */
export type StreamFormat = 'sse' | 'ndjson'

/** The content type of each stream format. */
export const CONTENT_TYPE: Readonly<Record<StreamFormat, string>> = {
  sse: 'text/event-stream; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
}

const encoder = new TextEncoder()

interface Frames {
  sse?: Uint8Array
  nd?: Uint8Array
}

/** Serialized once per envelope object, shared by every reader that gets it. */
const frameCache = new WeakMap<RunEvent, Frames>()

/** The JSON a reader sees for an envelope. The `end` frame also carries `status`/`error` on top. */
export function wireJson(ev: RunEvent): string {
  if (ev.type === 'end' && ev.data !== null && typeof ev.data === 'object') {
    return JSON.stringify({ ...ev, ...ev.data })
  }
  return JSON.stringify(ev)
}

/** SSE event names cannot hold line breaks; types are validated on the way in, this is a guard. */
function sseType(type: string): string {
  return /[\r\n]/.test(type) ? type.replace(/[\r\n]+/g, ' ') : type
}

/** The bytes of one envelope in `format`, cached on the envelope object. */
export function frameOf(ev: RunEvent, format: StreamFormat): Uint8Array {
  let f = frameCache.get(ev)
  if (!f) {
    f = {}
    frameCache.set(ev, f)
  }
  if (format === 'sse') {
    return (f.sse ??= encoder.encode(
      `id: ${ev.id}\nevent: ${sseType(ev.type)}\ndata: ${wireJson(ev)}\n\n`,
    ))
  }
  return (f.nd ??= encoder.encode(`${wireJson(ev)}\n`))
}

/** Frames of a whole batch, concatenated once per array and format, shared like `frameOf`'s. */
const batchCache = new WeakMap<readonly RunEvent[], Frames>()

/**
 * The bytes of `events` in `format`, one frame after the other: what a reader of the batch
 * writes in one go. Cached on the array: the follow engine hands every cursor of a run the
 * same array for a live batch, so N readers cost one concatenation (and one frame per event,
 * through {@link frameOf}), and one write each.
 *
 * @example
 * ```ts
 * sink.write(framesOf(batch, 'sse'))
 * ```
 */
export function framesOf(events: readonly RunEvent[], format: StreamFormat): Uint8Array {
  if (events.length === 1) return frameOf(events[0], format)
  let f = batchCache.get(events)
  if (!f) {
    f = {}
    batchCache.set(events, f)
  }
  const have = format === 'sse' ? f.sse : f.nd
  if (have !== undefined) return have
  let size = 0
  const parts = new Array<Uint8Array>(events.length)
  for (let i = 0; i < events.length; i++) {
    parts[i] = frameOf(events[i], format)
    size += parts[i].byteLength
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  if (format === 'sse') f.sse = out
  else f.nd = out
  return out
}

/**
 * The frame announcing ids `fromSeq..toSeq` of `run` that can no longer be sent; `tag` is the
 * run's incarnation tag (`epochTagOf(createdAt)`), so the ids name the run they are about.
 */
export function gapFrame(
  run: string,
  fromSeq: number,
  toSeq: number,
  tag: string,
  format: StreamFormat,
): Uint8Array {
  const from = eventIdOf(fromSeq, tag)
  const to = eventIdOf(toSeq, tag)
  const body = JSON.stringify({
    id: to,
    run,
    seq: toSeq,
    type: 'gap',
    data: { from, to },
    ts: Date.now(),
    from,
    to,
  })
  return encoder.encode(format === 'sse' ? `id: ${to}\nevent: gap\ndata: ${body}\n\n` : `${body}\n`)
}

/**
 * The last frame of a stream that failed under its reader (the run was reset, created again
 * or vanished; the backend failed): `event: stream_error` with `{ "error": { code, message,
 * run } }` (the protocol's error body), or an NDJSON line `{ "type": "stream_error", "error" }`.
 * The client rebuilds the typed error from it; the name is reserved, so no event has it.
 */
export function errorFrame(run: string, err: RunbusError, format: StreamFormat): Uint8Array {
  const error = { ...errorBody(err).body.error }
  error.run ??= run
  return encoder.encode(
    format === 'sse'
      ? `event: stream_error\ndata: ${JSON.stringify({ error })}\n\n`
      : `${JSON.stringify({ type: 'stream_error', error })}\n`,
  )
}

/** The SSE keep-alive comment. */
export const PING_SSE = encoder.encode(': ping\n\n')
/** The NDJSON keep-alive (an empty line). */
export const PING_ND = encoder.encode('\n')

/** The keep-alive of `format`. */
export function pingOf(format: StreamFormat): Uint8Array {
  return format === 'sse' ? PING_SSE : PING_ND
}

/**
 * The bytes of a bus stream frame in `format`: SSE `event: <event>` with `body` as data, or
 * an NDJSON line `{ "event", …body }`. `event` is `message` (`{ channel, data, ts }`) or
 * `interrupted` (`{ since, until }`).
 */
export function busFrame(
  event: 'message' | 'interrupted',
  body: Record<string, unknown>,
  format: StreamFormat,
): Uint8Array {
  return encoder.encode(
    format === 'sse'
      ? `event: ${event}\ndata: ${JSON.stringify(body)}\n\n`
      : `${JSON.stringify({ event, ...body })}\n`,
  )
}

/** The first thing on a bus stream once its subscription is in place. */
export const BUS_READY: Readonly<Record<StreamFormat, Uint8Array>> = {
  sse: encoder.encode(': ready\n\n'),
  ndjson: encoder.encode('\n'),
}

/** One SSE message as parsed: `event` defaults to `message`. */
export interface SseMessage {
  id?: string
  event: string
  data: string
}

/** What an {@link SseParser} reports. */
export interface SseHandlers {
  onMessage(message: SseMessage): void
  /** A comment line (`: ping`): the stream is alive. */
  onComment?(comment: string): void
  /** The server's `retry:` field, ms. */
  onRetry?(ms: number): void
}

/** Parses an SSE byte stream into messages (the WHATWG rules; chunks may split anywhere). */
export class SseParser {
  readonly #decoder = new TextDecoder()
  readonly #parser: ReturnType<typeof createParser>

  constructor(handlers: SseHandlers) {
    this.#parser = createParser({
      onEvent: (m: EventSourceMessage) =>
        handlers.onMessage({
          ...(m.id !== undefined ? { id: m.id } : {}),
          event: m.event ?? 'message',
          data: m.data,
        }),
      onComment: (c) => handlers.onComment?.(c),
      onRetry: (ms) => handlers.onRetry?.(ms),
    })
  }

  /** Feeds a chunk of the body. */
  feed(chunk: Uint8Array | string): void {
    this.#parser.feed(
      typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true }),
    )
  }
}

/** A frame of a followed run, decoded. */
export type RunFrame =
  | { kind: 'event'; event: RunEvent }
  | { kind: 'gap'; gap: GapData; event: RunEvent | undefined }
  | { kind: 'end'; end: RunEnd; event: RunEvent | undefined }
  | { kind: 'error'; error: WireError }

/** Whether `value` has the shape of a run event envelope. */
export function isEnvelope(value: unknown): value is RunEvent {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v.id === 'string' && typeof v.seq === 'number' && typeof v.type === 'string'
}

/**
 * Decodes one frame of a followed run (an SSE message's `event` and `data`, or an NDJSON
 * line with `event` undefined). Throws {@link DecodeError} on a frame that is not one.
 */
export function decodeRunFrame(event: string | undefined, data: string): RunFrame {
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch (err) {
    throw new DecodeError(`the hub sent a "${event ?? 'line'}" frame whose data is not JSON`, {
      cause: err,
    })
  }
  const envelope = isEnvelope(parsed) ? parsed : undefined
  if (
    envelope === undefined &&
    (event === 'stream_error' || (parsed as { type?: unknown } | null)?.type === 'stream_error')
  ) {
    const error = (parsed as { error?: Partial<WireError> } | null)?.error
    if (typeof error?.code !== 'string')
      throw new DecodeError('the hub sent a stream_error frame without an error code')
    return { kind: 'error', error: { ...error, code: error.code, message: error.message ?? '' } }
  }
  const type = event ?? envelope?.type
  if (type === 'end' || envelope?.type === 'end') {
    return { kind: 'end', end: (envelope ? envelope.data : parsed) as RunEnd, event: envelope }
  }
  if (type === 'gap' || envelope?.type === 'gap') {
    const gap = (envelope ? envelope.data : parsed) as GapData
    if (typeof gap?.from !== 'string' || typeof gap?.to !== 'string')
      throw new DecodeError('the hub sent a gap frame without from/to ids')
    return { kind: 'gap', gap: { from: gap.from, to: gap.to }, event: envelope }
  }
  if (!envelope)
    throw new DecodeError(`the hub sent a "${type ?? 'line'}" frame that is not an event envelope`)
  return { kind: 'event', event: envelope }
}
