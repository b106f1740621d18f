/**
 * Reading a stream stored in a run: the chunks of one event type, with their ids, then how
 * the run ended. One follower (the core's follow engine: history, live, no gap, no
 * duplicate) plus the liveness watchdog; every reader of `runbus/ai-sdk` is built on it.
 */
import type { RunEnd, Runbus } from './api.js'
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

/** Yields the `type` events of run `runId` (data only), gaps, and finally its end. */
export async function* readRunChunks<T>(
  rb: Runbus,
  runId: string,
  type: string,
  options: ReadRunChunksOptions,
): AsyncGenerator<RunChunkItem<T>, void, undefined> {
  const follower = rb.runs.follow(runId, {
    after: options.after ?? 'start',
    signal: options.signal,
  })
  const watchdog = startWatchdog(rb, runId, options.staleAfterMs)
  try {
    for await (const e of follower) {
      if (e.type === type) {
        watchdog.seen(e.id)
        yield { kind: 'chunk', id: e.id, data: e.data as T }
      } else if (e.type === BEAT_TYPE) {
        const every = (e.data as { every?: unknown } | null)?.every
        watchdog.seen(e.id, typeof every === 'number' ? every : undefined)
      } else if (e.type === 'gap') {
        const g = e.data as { from: string; to: string }
        watchdog.seen(e.id)
        yield { kind: 'gap', id: e.id, from: g.from, to: g.to }
      } else if (e.type === 'end') {
        yield { kind: 'end', id: e.id, end: e.data as RunEnd }
        return
      } else watchdog.seen(e.id)
    }
  } finally {
    watchdog.stop()
    follower.close()
  }
}
