/**
 * Producer liveness for streams stored in runs, on the public runbus API only.
 *
 * A run whose producer died (SIGKILL, a crashed machine) stays `running` forever: the log
 * cannot know. So a producer that goes quiet emits a small `ai.beat` event (only when it
 * emitted nothing else for a heartbeat), and a reader that sees no event at all for
 * `staleAfterMs` checks the run: when nothing was appended since what it last saw, the
 * producer is gone, and the reader ends the run as `failed` itself (first reader wins, the
 * others get `RunEndedError` and ignore it). Every reader then gets the stored history and
 * a clear end instead of hanging, on every backend.
 */
import type { Run, Runbus } from './api.js'

/** The event type of heartbeats. Readers skip it. */
export const BEAT_TYPE = 'ai.beat'

/** Default interval of producer heartbeats, ms. */
export const DEFAULT_HEARTBEAT_MS = 5_000

/** Default silence after which a reader checks whether the producer is gone, ms. */
export const DEFAULT_STALE_AFTER_MS = 20_000

/**
 * Emits a heartbeat on `run` whenever a whole interval passed without any other emit.
 * Returns the function that stops it. The timer never keeps the process alive.
 */
export function startHeartbeat(run: Run, everyMs: number): () => void {
  let seen = run.stats.emitted
  const timer = setInterval(() => {
    const now = run.stats.emitted
    if (now === seen && !run.ended) {
      try {
        run.emit(BEAT_TYPE, { every: everyMs })
      } catch {
        // The run ended or is gone: the pipe notices on its next emit.
      }
    }
    seen = run.stats.emitted
  }, everyMs)
  timer.unref?.()
  return () => clearInterval(timer)
}

/**
 * A reader's watchdog: `seen(id)` on every event, `stop()` at the end. When `staleAfterMs`
 * pass without `seen`, and the run's last id is still the last one seen, the run is ended
 * as `failed` (the follower then delivers its `end`).
 */
export interface Watchdog {
  seen(id: string, beatEveryMs?: number): void
  stop(): void
}

/** Starts a watchdog on `runId` (see {@link Watchdog}). */
export function startWatchdog(rb: Runbus, runId: string, staleAfterMs: number): Watchdog {
  let last: string | undefined
  let stale = staleAfterMs
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  const arm = (): void => {
    if (stopped) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => void check(), stale)
    timer.unref?.()
  }
  const check = async (): Promise<void> => {
    try {
      const summary = await rb.runs.get(runId)
      if (stopped || summary.status !== 'running') return
      if (summary.lastId !== last) return arm() // appended meanwhile: we are just behind
      const handle = await rb.runs.open(runId)
      await handle.end({
        status: 'failed',
        error: `the producer stopped: no event for ${stale} ms`,
      })
    } catch {
      // Ended or closed meanwhile: the follower ends on its own. Otherwise try again later.
      arm()
    }
  }
  arm()
  return {
    seen(id, beatEveryMs) {
      last = id
      if (beatEveryMs !== undefined && beatEveryMs * 4 > stale) stale = beatEveryMs * 4
      arm()
    },
    stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
    },
  }
}
