/**
 * Reading a stream stored in a run: its events in batches (the follow engine's own arrays,
 * shared by every reader of the run in this process), or the chunks of one event type with
 * their ids, then how the run ended. One follower (the core's follow engine: history, live,
 * no gap, no duplicate) plus the liveness watchdog; every reader of `runbus/ai-sdk` is built
 * on {@link readRunBatches}.
 */
import type { RunEnd, RunEvent, Runbus } from './api.js'
import { BEAT_TYPE, startWatchdog } from './liveness.js'

/** One item of {@link readRunChunks}. */
export type RunChunkItem<T> =
  | { readonly kind: 'chunk'; readonly id: string; readonly data: T }
  | { readonly kind: 'gap'; readonly id: string; readonly from: string; readonly to: string }
  | { readonly kind: 'end'; readonly id: string; readonly end: RunEnd }

/** Options of {@link readRunChunks}. */
export interface ReadRunChunksOptions {
  /** Start after this event id, or from the `'start'` (default). */
  after?: string | undefined
  signal?: AbortSignal | undefined
  /** Silence after which the producer is presumed gone (see `liveness.ts`). */
  staleAfterMs: number
}

/** What {@link readRunBatches} gives. */
export interface RunBatchReader {
  /**
   * The next events, in order, `undefined` once the run's `end` was given. The array may be
   * shared with other readers of the run: never modify it. Rejects when the signal aborts.
   */
  next(): Promise<readonly RunEvent[] | undefined>
  /** Stops reading (the follower and the watchdog). Idempotent. */
  close(): void
}

/** Follows run `runId` in batches, with the watchdog fed once per batch. */
export function readRunBatches(
  rb: Runbus,
  runId: string,
  options: ReadRunChunksOptions,
): RunBatchReader {
  const follower = rb.runs.follow(runId, {
    after: options.after ?? 'start',
    signal: options.signal,
  })
  const watchdog = startWatchdog(rb, runId, options.staleAfterMs)
  let closed = false
  const close = (): void => {
    if (closed) return
    closed = true
    watchdog.stop()
    follower.close()
  }
  return {
    async next() {
      if (closed) return undefined
      let r: IteratorResult<readonly RunEvent[], undefined>
      try {
        r = await follower.nextBatch()
      } catch (err) {
        close()
        throw err
      }
      if (r.done) {
        close()
        return undefined
      }
      const events = r.value
      const lastEvent = events[events.length - 1]
      if (lastEvent.type === 'end') {
        // Nothing follows the end: stop watching now (the caller gets this batch first).
        close()
        return events
      }
      let every: number | undefined
      for (let i = 0; i < events.length; i++) {
        if (events[i].type !== BEAT_TYPE) continue
        const e = (events[i].data as { every?: unknown } | null)?.every
        if (typeof e === 'number') every = e
      }
      watchdog.seen(lastEvent.id, every)
      return events
    },
    close,
  }
}

/** Yields the `type` events of run `runId` (data only), gaps, and finally its end. */
export async function* readRunChunks<T>(
  rb: Runbus,
  runId: string,
  type: string,
  options: ReadRunChunksOptions,
): AsyncGenerator<RunChunkItem<T>, void, undefined> {
  const reader = readRunBatches(rb, runId, options)
  try {
    for (;;) {
      const events = await reader.next()
      if (events === undefined) return
      for (const e of events) {
        if (e.type === type) yield { kind: 'chunk', id: e.id, data: e.data as T }
        else if (e.type === 'gap') {
          const g = e.data as { from: string; to: string }
          yield { kind: 'gap', id: e.id, from: g.from, to: g.to }
        } else if (e.type === 'end') {
          yield { kind: 'end', id: e.id, end: e.data as RunEnd }
          return
        }
      }
    }
  } finally {
    reader.close()
  }
}
