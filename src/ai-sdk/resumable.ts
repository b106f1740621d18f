/**
 * A drop-in for `resumable-stream`'s `createResumableStreamContext`, stored in runbus runs.
 *
 * resumable-stream keeps a stream's chunks in the producing process's memory and reaches them
 * over Redis pub/sub, so a producer that died (or one that finished) cannot be resumed and a
 * lost DONE message hangs readers. Here each stream is a run whose events are its chunks (one
 * event per chunk, type `ai.text`): a resume reads the stored history, then live, then the
 * end, from any process, on any backend; a producer that dies is detected by silence (see
 * `liveness.ts`) and its readers get what was stored and a clear end.
 *
 * The return contract is resumable-stream's: `resumableStream` and `createNewResumableStream`
 * give `null` for a stream that is already done, `resumeExistingStream` gives `undefined` for
 * an unknown id and `null` for a done one, `hasExistingStream` gives `null | true | "DONE"`.
 */
import {
  InvalidArgumentError,
  RunExistsError,
  RunNotFoundError,
  type Run,
  type Runbus,
} from './api.js'
import { DEFAULT_HEARTBEAT_MS, DEFAULT_STALE_AFTER_MS, startHeartbeat } from './liveness.js'
import { readRunBatches } from './read.js'
import { checkOptions as checkOptionKinds } from '../events/options.js'
import { positiveMs } from './options.js'

/** The event type of a text stream's chunks. */
export const TEXT_CHUNK_TYPE = 'ai.text'

/**
 * Options of {@link createResumableStreamContext}.
 *
 * @example
 * ```ts
 * createResumableStreamContext({ runbus: rb, waitUntil: after }) // Next.js `after`
 * ```
 */
export interface ResumableStreamContextOptions {
  /** The runbus instance whose runs hold the streams (any backend). */
  runbus: Runbus
  /**
   * Keeps a serverless function alive until the producer stored everything (resumable-stream's
   * option, same meaning). `null` on a long-lived server.
   */
  waitUntil: ((promise: Promise<unknown>) => void) | null
  /** Prefix of the run ids: stream `abc` lives in run `<keyPrefix>:abc`. Default `rs`. */
  keyPrefix?: string
  /** A producer that emitted nothing for this long emits a heartbeat. Default 5,000 ms. */
  heartbeatMs?: number
  /**
   * A reader that saw nothing for this long (and at least 4 heartbeats) ends a run whose
   * producer is gone, as `failed`. Default 20,000 ms.
   */
  staleAfterMs?: number
}

/**
 * The methods of resumable-stream's `ResumableStreamContext`, with its return contract.
 *
 * @example
 * ```ts
 * const stream = await ctx.resumableStream(id, () => result.toUIMessageStream().pipeThrough(new JsonToSseTransformStream()))
 * ```
 */
export interface ResumableStreamContext {
  /**
   * Creates the stream when no stream has this id (calling `makeStream`), resumes it when it
   * is in progress, and gives `null` when it is done.
   */
  resumableStream(
    streamId: string,
    makeStream: () => ReadableStream<string>,
    skipCharacters?: number,
  ): Promise<ReadableStream<string> | null>
  /**
   * Resumes a stream: `undefined` when no stream has this id, `null` when it is done,
   * else the stream from its start (minus `skipCharacters`), then live, then its end.
   */
  resumeExistingStream(
    streamId: string,
    skipCharacters?: number,
  ): Promise<ReadableStream<string> | null | undefined>
  /**
   * Creates a stream from `makeStream()` and stores it as it is produced; the stream it
   * returns is the producer's own (read it or not, the producer goes on to the end).
   * @throws RunExistsError when the id was used before.
   */
  createNewResumableStream(
    streamId: string,
    makeStream: () => ReadableStream<string>,
    skipCharacters?: number,
  ): Promise<ReadableStream<string> | null>
  /** `null`: no such stream; `true`: in progress; `"DONE"`: finished. */
  hasExistingStream(streamId: string): Promise<null | true | 'DONE'>
}

const RUN_ID = /^[A-Za-z0-9_.:-]{1,128}$/

/**
 * Creates a resumable stream context whose streams live in runbus runs: a drop-in for
 * `resumable-stream`'s (change the import, pass `runbus`).
 *
 * Gotchas: a stream id can be used once (like a run id); what a done stream held stays
 * readable for the run retention's `ttlMs` (the instance's `retention`), and more than
 * `retention.maxEvents` chunks are trimmed from the start, so size it for your answers.
 *
 * @example
 * ```ts
 * import { createResumableStreamContext } from 'runbus/ai-sdk'
 * const streamContext = createResumableStreamContext({ runbus: rb, waitUntil: null })
 * const resumed = await streamContext.resumeExistingStream(activeStreamId)
 * ```
 */
export function createResumableStreamContext(
  options: ResumableStreamContextOptions,
): ResumableStreamContext {
  // Names and types: resumable-stream's `{ redis }` / `{ publisher }` must not be ignored.
  checkOptionKinds('createResumableStreamContext', options, {
    runbus: 'object',
    waitUntil: ['function', 'null'],
    keyPrefix: 'string',
    heartbeatMs: 'number',
    staleAfterMs: 'number',
  })
  const rb = options.runbus
  if (rb === undefined || typeof rb.runs?.create !== 'function') {
    throw new InvalidArgumentError('createResumableStreamContext: runbus is required')
  }
  const prefix = options.keyPrefix ?? 'rs'
  const heartbeatMs = positiveMs('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS)
  const staleAfterMs = positiveMs('staleAfterMs', options.staleAfterMs, DEFAULT_STALE_AFTER_MS)
  const waitUntil = options.waitUntil ?? ((p: Promise<unknown>) => void p)

  const runIdOf = (streamId: string): string => {
    const id = `${prefix}:${streamId}`
    if (typeof streamId !== 'string' || !RUN_ID.test(id)) {
      throw new InvalidArgumentError(
        `stream id ${JSON.stringify(streamId)} must be 1–128 characters of A-Z a-z 0-9 _ . : - (prefix included)`,
      )
    }
    return id
  }

  const resume = (runId: string, skip: number | undefined): ReadableStream<string> => {
    let toSkip = checkSkip(skip)
    const ac = new AbortController()
    const reader = readRunBatches(rb, runId, { signal: ac.signal, staleAfterMs })
    return new ReadableStream<string>({
      async pull(controller) {
        // One string per batch of stored chunks (a text stream: its chunk boundaries carry
        // no meaning), so 100 readers cost 100 enqueues per batch, not per chunk. Enqueue
        // something before returning: a pull that enqueues nothing is not repeated.
        for (;;) {
          const events = await reader.next()
          if (events === undefined) return controller.close()
          let text = ''
          let ended = false
          for (const e of events) {
            if (e.type === TEXT_CHUNK_TYPE) text += e.data as string
            else if (e.type === 'end') ended = true
            else if (e.type === 'gap') {
              // A text stream that lost its start cannot be repaired: say so rather than splice.
              const g = e.data as { from: string; to: string }
              reader.close()
              return controller.error(
                new InvalidArgumentError(
                  `stream ${runId}: chunks ${g.from}–${g.to} are no longer retained`,
                ),
              )
            }
          }
          if (toSkip > 0) {
            const cut = Math.min(toSkip, text.length)
            text = text.slice(cut)
            toSkip -= cut
          }
          if (text.length > 0) controller.enqueue(text)
          if (ended) return controller.close()
          if (text.length > 0) return
        }
      },
      cancel() {
        ac.abort()
        reader.close()
      },
    })
  }

  const produce = (run: Run, makeStream: () => ReadableStream<string>): ReadableStream<string> => {
    let source: ReadableStream<string>
    try {
      source = makeStream()
    } catch (err) {
      void run.end({ status: 'failed', error: asError(err) }).catch(() => undefined)
      throw err
    }
    let out: ReadableStreamDefaultController<string> | undefined
    let outOpen = true
    const returned = new ReadableStream<string>({
      start(c) {
        out = c
      },
      cancel() {
        // The producer's own reader left (its client disconnected): storing goes on.
        outOpen = false
      },
    })
    const stop = startHeartbeat(run, heartbeatMs)
    const done = (async () => {
      const reader = source.getReader()
      // An interrupt in the run's inbox (from any process) stops the producer.
      const onAbort = (): void => void reader.cancel(run.signal.reason).catch(() => undefined)
      run.signal.addEventListener('abort', onAbort, { once: true })
      try {
        for (;;) {
          const { done: finished, value } = await reader.read()
          if (finished) break
          run.emit(TEXT_CHUNK_TYPE, value)
          if (outOpen) out?.enqueue(value)
        }
        stop()
        run.signal.removeEventListener('abort', onAbort)
        await run.end({ status: run.signal.aborted ? 'cancelled' : 'completed' })
        if (outOpen) out?.close()
      } catch (err) {
        stop()
        run.signal.removeEventListener('abort', onAbort)
        reader.releaseLock()
        await run
          .end({ status: run.signal.aborted ? 'cancelled' : 'failed', error: asError(err) })
          .catch(() => undefined)
        if (outOpen) out?.error(err)
      }
    })()
    waitUntil(done)
    return returned
  }

  const create = async (
    streamId: string,
    makeStream: () => ReadableStream<string>,
  ): Promise<ReadableStream<string>> => {
    const run = await rb.runs.create({ id: runIdOf(streamId), meta: { 'ai-sdk': 'text' } })
    return produce(run, makeStream)
  }

  const state = async (runId: string): Promise<null | true | 'DONE'> => {
    try {
      const s = await rb.runs.get(runId)
      return s.status === 'running' ? true : 'DONE'
    } catch (err) {
      if (err instanceof RunNotFoundError) return null
      throw err
    }
  }

  return {
    async resumableStream(streamId, makeStream, skipCharacters) {
      const runId = runIdOf(streamId)
      checkSkip(skipCharacters)
      try {
        return await create(streamId, makeStream)
      } catch (err) {
        if (!(err instanceof RunExistsError)) throw err
      }
      const s = await state(runId)
      return s === true ? resume(runId, skipCharacters) : null
    },
    async resumeExistingStream(streamId, skipCharacters) {
      const runId = runIdOf(streamId)
      checkSkip(skipCharacters)
      const s = await state(runId)
      if (s === null) return undefined
      if (s === 'DONE') return null
      return resume(runId, skipCharacters)
    },
    async createNewResumableStream(streamId, makeStream) {
      return create(streamId, makeStream)
    },
    hasExistingStream(streamId) {
      return state(runIdOf(streamId))
    },
  }
}

function checkSkip(skip: number | undefined): number {
  if (skip === undefined) return 0
  if (!Number.isInteger(skip) || skip < 0) {
    throw new InvalidArgumentError('skipCharacters must be a non-negative integer')
  }
  return skip
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
