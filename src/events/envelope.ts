/**
 * The shapes that travel: the event envelope of a run stream, the end of a run, gaps,
 * inbox messages. Shared by every part, every backend and the wire protocol.
 */

/** How a run ended. */
export type RunEndStatus = 'completed' | 'failed' | 'cancelled'

/** Where a run is in its life. */
export type RunStatus = 'running' | RunEndStatus

/**
 * One event of a run stream.
 *
 * - `id` is opaque to readers and strictly increasing within a run; hand it back to
 *   resume (`after`, `Last-Event-ID`). (Today it is the decimal `seq`; do not rely on it.)
 * - `seq` counts 1, 2, 3… within the run so a reader can see a gap.
 * - `ts` is the time the event was emitted, in epoch milliseconds.
 *
 * Reserved types written by runbus itself: `end`, `gap`, `ask`, `answer`, `ask_expired`.
 */
export interface RunEvent<D = unknown> {
  readonly id: string
  readonly run: string
  readonly seq: number
  readonly type: string
  readonly data: D
  readonly ts: number
}

/** The data of a run's final `end` event. */
export interface RunEnd {
  status: RunEndStatus
  error?: string
}

/**
 * The data of a `gap` event: the ids (inclusive) that the reader asked for but that are no
 * longer retained.
 */
export interface GapData {
  from: string
  to: string
}

/** A message in a run's inbox (steering from people or services to the agent). */
export interface InboxMessage<D = unknown> {
  readonly id: string
  readonly run: string
  readonly seq: number
  readonly type: string
  readonly data: D
  readonly ts: number
}

/** Event types runbus writes itself. */
export const RESERVED_TYPES: ReadonlySet<string> = new Set([
  'end',
  'gap',
  'ask',
  'answer',
  'ask_expired',
  'stream_error',
])

/** Turns a seq into the event id the backends hand out. Ids are opaque to users. */
export function idOfSeq(seq: number): string {
  return String(seq)
}

/**
 * Turns an event id back into its seq, or `undefined` when the text is not an id runbus
 * issued (callers turn that into an `InvalidArgumentError`).
 */
export function seqOfId(id: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(id)) return undefined
  const n = Number(id)
  return Number.isSafeInteger(n) ? n : undefined
}
