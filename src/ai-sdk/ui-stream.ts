/**
 * AI SDK UI message streams stored in runs: one event (type `ai.ui`) per `UIMessageChunk`,
 * served back in the AI SDK's SSE format with `id:` lines, so a reconnect resumes after the
 * exact chunk it last got instead of replaying the message (the AI SDK's duplicated parts).
 *
 * Resume rules, which keep a client's message whole:
 * - after an id (the client still holds the message up to it): exactly the chunks after it
 *   (header `x-runbus-resume: continue`);
 * - with no id (a reload: the client lost its copy): the message from its `start` chunk
 *   (`x-runbus-resume: start`), which the AI SDK rebuilds from empty when the transport says
 *   `resumeStreamIsReplay` (ours does, so does `DefaultChatTransport`): a clean restart,
 *   never duplicated parts;
 * - when the chunks asked for are no longer retained (`retention.maxEvents` trimmed them):
 *   a clean restart of the message from the first retained chunk (see `restart.ts`); never
 *   a splice onto what the reader holds, never a part twice.
 */
import { UI_MESSAGE_STREAM_HEADERS, type UIMessageChunk } from 'ai'
import {
  RunNotFoundError,
  type Run,
  type RunEnd,
  type RunEndStatus,
  type RunEvent,
  type Runbus,
} from './api.js'
import { DEFAULT_HEARTBEAT_MS, DEFAULT_STALE_AFTER_MS, startHeartbeat } from './liveness.js'
import { readRunBatches, readRunChunks } from './read.js'
import { Restart, RESTART_CHUNK } from './restart.js'
import { checkOptions, positiveMs } from './options.js'

/** The event type of stored UI message chunks. */
export const UI_CHUNK_TYPE = 'ai.ui'

/** Response header: the run a UI message stream response serves. */
export const RUN_HEADER = 'x-runbus-run'

/** Response header: `start` (the whole message) or `continue` (after the client's last chunk). */
export const RESUME_HEADER = 'x-runbus-resume'

/**
 * Options of {@link pipeUIMessageStream}.
 *
 * @example
 * ```ts
 * await pipeUIMessageStream(run, result.toUIMessageStream(), { end: false })
 * ```
 */
export interface PipeUIMessageStreamOptions {
  /** End the run when the stream ends (default `true`): `completed`, `cancelled` or `failed`. */
  end?: boolean
  /** A heartbeat after this much silence (so readers can tell a dead producer). Default 5,000 ms. */
  heartbeatMs?: number
  /** Called with each chunk after it was handed to the run (to watch for approvals, say). */
  onChunk?: (chunk: UIMessageChunk) => void
}

/**
 * What {@link pipeUIMessageStream} resolves with.
 *
 * @example
 * ```ts
 * const { chunks, status } = await pipeUIMessageStream(run, stream)
 * ```
 */
export interface PipeResult {
  /** Chunks stored. */
  chunks: number
  /** How the stream ended: `completed`, `cancelled` (interrupted or aborted) or `failed`. */
  status: RunEndStatus
  /** The failure, when `status` is `failed`. */
  error?: unknown
}

/**
 * Stores a UI message stream in a run, one event per chunk, and (by default) ends the run
 * with it. Resolves once everything is stored.
 *
 * Use it on the server with `streamText(…).toUIMessageStream()`, passing `run.signal` as
 * `streamText`'s `abortSignal` so an interrupt sent to the run's inbox (a stop button in any
 * tab, any process) aborts the generation. Gotchas: a stream that fails gets an `error`
 * chunk stored before the run ends as `failed`; after an interrupt the source gets one second
 * to end on its own (its `abort` chunk), then it is cancelled.
 *
 * @example
 * ```ts
 * const run = await rb.runs.create({ id: `chat:${chatId}:${Date.now()}` })
 * const result = streamText({ model, messages, abortSignal: run.signal })
 * void pipeUIMessageStream(run, result.toUIMessageStream())
 * return uiMessageStreamResponse(rb, run.id)
 * ```
 */
export async function pipeUIMessageStream(
  run: Run,
  stream: ReadableStream<UIMessageChunk>,
  options: PipeUIMessageStreamOptions = {},
): Promise<PipeResult> {
  checkOptions('pipeUIMessageStream', options, ['end', 'heartbeatMs', 'onChunk'])
  const heartbeatMs = positiveMs('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS)
  const stopBeat = startHeartbeat(run, heartbeatMs)
  const reader = stream.getReader()
  let grace: ReturnType<typeof setTimeout> | undefined
  const onAbort = (): void => {
    grace = setTimeout(() => void reader.cancel(run.signal.reason).catch(() => undefined), 1_000)
    grace.unref?.()
  }
  run.signal.addEventListener('abort', onAbort, { once: true })
  let chunks = 0
  let last: string | undefined
  const result: PipeResult = { chunks: 0, status: 'completed' }
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      run.emit(UI_CHUNK_TYPE, value)
      chunks++
      last = value.type
      options.onChunk?.(value)
    }
    if (run.signal.aborted || last === 'abort') result.status = 'cancelled'
  } catch (err) {
    void reader.cancel(err).catch(() => undefined)
    if (run.signal.aborted) result.status = 'cancelled'
    else {
      result.status = 'failed'
      result.error = err
      try {
        run.emit(UI_CHUNK_TYPE, { type: 'error', errorText: errorText(err) })
        chunks++
      } catch {
        // The run is gone: nothing more can be stored.
      }
    }
  } finally {
    stopBeat()
    if (grace !== undefined) clearTimeout(grace)
    run.signal.removeEventListener('abort', onAbort)
  }
  result.chunks = chunks
  if (options.end !== false) {
    const end: { status: RunEndStatus; error?: string } = { status: result.status }
    if (result.error !== undefined) end.error = errorText(result.error)
    await run.end(end)
  } else await run.flush()
  return result
}

/**
 * Options of {@link uiMessageStreamResponse}.
 *
 * @example
 * ```ts
 * uiMessageStreamResponse(rb, runId, { after: req.headers.get('last-event-id') ?? undefined, signal: req.signal })
 * ```
 */
export interface UIMessageStreamResponseOptions {
  /** Resume after this event id (the `id:` of the last frame received). Default: from the start. */
  after?: string | undefined
  /** Ends the response (pass the request's signal). */
  signal?: AbortSignal | undefined
  /** Extra response headers. */
  headers?: Record<string, string>
  /** A `: ping` comment after this much silence (proxies close idle streams). Default 15,000 ms. */
  keepAliveMs?: number
  /** Silence after which a producer is presumed dead and the run ended. Default 20,000 ms. */
  staleAfterMs?: number
}

/**
 * Serves a run's stored UI message stream in the AI SDK's SSE format (its headers, one
 * `data: <chunk>` frame per chunk, each with an `id:` line, then `data: [DONE]`), from
 * history, then live, to the run's end. `204 No Content` when the run does not exist (what
 * the AI SDK's transports read as "no stream to resume").
 *
 * Use it for the POST that starts an answer and for the GET that resumes one. Gotchas: see
 * the file comment for how a resume keeps the message whole; a run that ends
 * `failed` without an `error` chunk gets one, a `cancelled` one without `abort` gets
 * `abort`, so every reader sees a clear end.
 *
 * @example
 * ```ts
 * // GET /api/chat/:id/stream
 * return uiMessageStreamResponse(rb, activeRunOf(chatId), { after: req.headers.get('last-event-id') ?? undefined })
 * ```
 */
export async function uiMessageStreamResponse(
  rb: Runbus,
  runId: string,
  options: UIMessageStreamResponseOptions = {},
): Promise<Response> {
  checkOptions('uiMessageStreamResponse', options, [
    'after',
    'signal',
    'headers',
    'keepAliveMs',
    'staleAfterMs',
  ])
  const keepAliveMs = positiveMs('keepAliveMs', options.keepAliveMs, 15_000)
  const staleAfterMs = positiveMs('staleAfterMs', options.staleAfterMs, DEFAULT_STALE_AFTER_MS)
  try {
    await rb.runs.get(runId)
  } catch (err) {
    if (err instanceof RunNotFoundError) return new Response(null, { status: 204 })
    throw err
  }
  const after = options.after === undefined || options.after === '' ? 'start' : options.after
  const mode = after === 'start' ? 'start' : 'continue'
  const body = serveChunks(rb, runId, after, options.signal, keepAliveMs, staleAfterMs)
  return new Response(body, {
    status: 200,
    headers: {
      ...UI_MESSAGE_STREAM_HEADERS,
      ...options.headers,
      [RUN_HEADER]: runId,
      [RESUME_HEADER]: mode,
    },
  })
}

const encoder = new TextEncoder()
const DONE_FRAME = 'data: [DONE]\n\n'

function frameText(id: string | undefined, chunk: unknown): string {
  const head = id === undefined ? '' : `id: ${id}\n`
  return `${head}data: ${JSON.stringify(chunk)}\n\n`
}

/** The SSE bytes of a batch of stored chunks, and the type of its last chunk. */
interface EncodedBatch {
  readonly bytes: Uint8Array | undefined
  readonly last: string | undefined
}

/**
 * Encoded batches, by the follow engine's batch array. A live batch is one array handed to
 * every reader of the run in this process (and concurrent history reads share their page),
 * so 100 readers serialize and encode each chunk once, not 100 times, and each enqueues one
 * buffer per batch. The buffers are shared between responses: nothing may write into them
 * (Node's HTTP server and the fetch API only read them). `null`: the batch holds a gap or
 * the end, which each reader handles on its own.
 */
const encodedBatches = new WeakMap<readonly RunEvent[], EncodedBatch | null>()

function encodeBatch(events: readonly RunEvent[]): EncodedBatch | null {
  const known = encodedBatches.get(events)
  if (known !== undefined) return known
  let text = ''
  let last: string | undefined
  let out: EncodedBatch | null
  for (let i = 0; i < events.length; i++) {
    const e = events[i]
    if (e.type === UI_CHUNK_TYPE) {
      text += frameText(e.id, e.data)
      last = (e.data as UIMessageChunk).type
    } else if (e.type === 'gap' || e.type === 'end') {
      out = null
      encodedBatches.set(events, out)
      return out
    }
  }
  out = { bytes: text === '' ? undefined : encoder.encode(text), last }
  encodedBatches.set(events, out)
  return out
}

/**
 * Turns a reader's events into SSE text: chunks, a restart after a gap before anything went
 * out, an `error` for a gap after that, the end's closing chunk. One per response.
 */
class ChunkSerializer {
  /** The type of the last chunk sent. */
  last: string | undefined = undefined
  /** Whether a chunk of the message went out (then a gap cannot restart it). */
  delivered = false
  restart: Restart | undefined = undefined
  /** Set once the stream's last text (`[DONE]`) was produced. */
  finished = false

  /** SSE text for `events`, slowly, one event at a time (gaps, the end, a restart). */
  text(events: readonly RunEvent[]): string {
    let text = ''
    for (let i = 0; i < events.length && !this.finished; i++) {
      const e = events[i]
      if (e.type === UI_CHUNK_TYPE) {
        const chunk = e.data as UIMessageChunk
        this.last = chunk.type
        if (this.restart === undefined) {
          this.delivered = true
          text += frameText(e.id, chunk)
          continue
        }
        const out = this.restart.repair(chunk)
        for (let j = 0; j < out.length; j++) {
          // Only the stored chunk carries its id: a resume after it continues right there.
          text += frameText(j === out.length - 1 ? e.id : undefined, out[j])
        }
      } else if (e.type === 'gap') {
        if (!this.delivered && this.restart === undefined) {
          // Nothing of the message went out yet: start it over from what is retained.
          this.restart = new Restart()
          this.delivered = true
          text += frameText(e.id, RESTART_CHUNK)
        } else {
          text += frameText(undefined, lostChunk(e.data as GapLike)) + DONE_FRAME
          this.finished = true
        }
      } else if (e.type === 'end') {
        const { status, error } = e.data as RunEnd
        if (status === 'failed' && this.last !== 'error') {
          text += frameText(e.id, { type: 'error', errorText: error ?? 'the run failed' })
        } else if (status === 'cancelled' && this.last !== 'abort' && this.last !== 'finish') {
          text += frameText(e.id, { type: 'abort' })
        }
        text += DONE_FRAME
        this.finished = true
      }
    }
    return text
  }
}

interface GapLike {
  from: string
  to: string
}

function serveChunks(
  rb: Runbus,
  runId: string,
  after: string,
  signal: AbortSignal | undefined,
  keepAliveMs: number,
  staleAfterMs: number,
): ReadableStream<Uint8Array> {
  const ac = new AbortController()
  const onAbort = (): void => ac.abort(signal?.reason)
  if (signal?.aborted === true) ac.abort(signal.reason)
  else signal?.addEventListener('abort', onAbort, { once: true })
  const reader = readRunBatches(rb, runId, { after, signal: ac.signal, staleAfterMs })
  const out = new ChunkSerializer()
  let ping: ReturnType<typeof setInterval> | undefined
  let finished = false
  let quiet = false
  const cleanup = (): void => {
    finished = true
    if (ping !== undefined) clearInterval(ping)
    signal?.removeEventListener('abort', onAbort)
    reader.close()
  }
  return new ReadableStream<Uint8Array>({
    start(controller) {
      ping = setInterval(() => {
        if (quiet && !finished) controller.enqueue(encoder.encode(': ping\n\n'))
        quiet = true
      }, keepAliveMs)
      ping.unref?.()
    },
    async pull(controller) {
      quiet = false
      try {
        // Enqueue something before returning: a pull that enqueues nothing is not repeated.
        for (;;) {
          const events = await reader.next()
          if (events === undefined) {
            // The follower ended without an end event (it cannot, but never hang a reader).
            cleanup()
            controller.enqueue(encoder.encode(DONE_FRAME))
            return controller.close()
          }
          if (out.restart === undefined) {
            const fast = encodeBatch(events)
            if (fast !== null) {
              if (fast.bytes === undefined) continue // heartbeats only
              out.delivered = true
              out.last = fast.last
              return controller.enqueue(fast.bytes)
            }
          }
          const text = out.text(events)
          if (text !== '') controller.enqueue(encoder.encode(text))
          if (out.finished) {
            cleanup()
            return controller.close()
          }
          if (text !== '') return
        }
      } catch (err) {
        cleanup()
        controller.error(err)
      }
    },
    cancel() {
      cleanup()
      ac.abort()
    },
  })
}

/**
 * A run's stored UI message chunks as a `ReadableStream` in this process (history, live, end),
 * for `readUIMessageStream`, a server-side consumer or a test.
 *
 * @example
 * ```ts
 * for await (const message of readUIMessageStream({ stream: readUIMessageChunks(rb, runId) })) render(message)
 * ```
 */
export function readUIMessageChunks(
  rb: Runbus,
  runId: string,
  options: { after?: string; signal?: AbortSignal; staleAfterMs?: number } = {},
): ReadableStream<UIMessageChunk> {
  checkOptions('readUIMessageChunks', options, ['after', 'signal', 'staleAfterMs'])
  const ac = new AbortController()
  options.signal?.addEventListener('abort', () => ac.abort(options.signal?.reason), { once: true })
  const items = readRunChunks<UIMessageChunk>(rb, runId, UI_CHUNK_TYPE, {
    after: options.after,
    signal: ac.signal,
    staleAfterMs: positiveMs('staleAfterMs', options.staleAfterMs, DEFAULT_STALE_AFTER_MS),
  })
  let delivered = false
  let restart: Restart | undefined
  return new ReadableStream<UIMessageChunk>({
    async pull(controller) {
      // Enqueue something before returning: a pull that enqueues nothing is not repeated.
      for (;;) {
        const r = await items.next()
        if (r.done) return controller.close()
        const item = r.value
        if (item.kind === 'chunk') {
          if (restart === undefined) {
            delivered = true
            return controller.enqueue(item.data)
          }
          const out = restart.repair(item.data)
          for (const c of out) controller.enqueue(c)
          if (out.length > 0) return
          continue
        }
        if (item.kind === 'gap') {
          if (!delivered && restart === undefined) {
            restart = new Restart()
            delivered = true
            return controller.enqueue(RESTART_CHUNK)
          }
          controller.enqueue(lostChunk(item))
          await items.return(undefined)
          return controller.close()
        }
        return controller.close()
      }
    },
    async cancel() {
      ac.abort()
      await items.return(undefined)
    },
  })
}

/** The `error` chunk for history lost after part of the message went out (see restart.ts). */
function lostChunk(gap: GapLike): UIMessageChunk {
  return {
    type: 'error',
    errorText: `part of this answer is no longer retained (events ${gap.from}–${gap.to}); resume to restart it`,
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
