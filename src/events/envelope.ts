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
 * - `id` is opaque to readers and names one event of one incarnation of the run; hand it
 *   back to resume (`after`, `Last-Event-ID`). It carries the run's incarnation: an id of a
 *   run whose id was since created again (after its TTL) is refused with `RunResetError`
 *   (code `run_reset`) instead of resuming in the new run's log. Do not parse it.
 * - `seq` counts 1, 2, 3… within the run so a reader can see a gap.
 * - `ts` is the time the event was emitted, in epoch milliseconds. A run handle reads the
 *   clock once per batch, when it first sends the batch to the backend: the events of one
 *   stretch of synchronous code (emits with no `await` between them) share the time that
 *   stretch ended, which is also the earliest a reader could see them.
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

/*
 * Event ids: `<seq>.<epoch tag>`, where the tag is the run's incarnation (its creation time,
 * epoch ms, in base 36). Opaque to users (the docs say only that an id carries the
 * incarnation); the core reads the seq back to resume, and the epoch to refuse a position of
 * another incarnation of the same run id (a run created again after its TTL) instead of
 * resuming in the new run's log. A plain decimal id (issued before ids carried the epoch,
 * `'0'`, inbox message ids) is still accepted: epoch unknown, nothing to check.
 *
 * The tag is computed once per run (`epochTagOf`) and each id is one concatenation
 * (`eventIdOf`, or `EventIds` for a backend making a batch's ids): ids are built on the hot
 * path of every append.
 */

/** A position read back from an event id: its seq, and the run's incarnation when it says. */
export interface EventPosition {
  readonly seq: number
  /** The run's incarnation (creation time, whole epoch ms), `undefined` for a plain id. */
  readonly epoch: number | undefined
}

/**
 * The id suffix naming a run's incarnation (`createdAt`, epoch ms), or `''` when it is not
 * known (the ids are then plain seqs). Compute it once per run, not per event.
 */
export function epochTagOf(epoch: number | undefined): string {
  if (epoch === undefined || !(epoch >= 0) || !Number.isSafeInteger(Math.floor(epoch))) return ''
  return '.' + Math.floor(epoch).toString(36)
}

/** The event id of `seq` in the run whose tag is `tag` (from `epochTagOf`). */
export function eventIdOf(seq: number, tag: string): string {
  return String(seq) + tag
}

/**
 * Makes the ids of one run incarnation's events, each equal to `eventIdOf(seq, tag)`, at
 * half its cost when seqs come in order (a batch, a page): the number-to-text conversion is
 * done once per ten seqs, as the decimal prefix `seq / 10` shared by their ids, and each id
 * is that prefix and one of ten suffixes (the last digit and the tag) made up front. The
 * conversion, not the concatenation, is what an id costs (a call out of the compiled code).
 *
 * @internal One per run in a backend; not for readers (ids are opaque).
 * @example
 * ```ts
 * const ids = new EventIds(epochTagOf(createdAt))
 * ids.of(42) // === eventIdOf(42, epochTagOf(createdAt))
 * ```
 */
export class EventIds {
  private readonly suffixes: readonly string[]
  /** `seq / 10` (rounded down) of the last id made, and its text (`''` for 0). */
  private tens = -1
  private prefix = ''

  constructor(tag: string) {
    this.suffixes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'].map((d) => d + tag)
  }

  /** The id of `seq` (a non-negative safe integer). */
  of(seq: number): string {
    const tens = Math.floor(seq / 10)
    if (tens !== this.tens) {
      this.tens = tens
      this.prefix = tens === 0 ? '' : String(tens)
    }
    return this.prefix + this.suffixes[seq - tens * 10]
  }
}

/**
 * A plain id: the decimal seq. For inbox messages (numbered apart from the log) and for
 * positions whose incarnation is not known.
 */
export function idOfSeq(seq: number): string {
  return String(seq)
}

const ID = /^(0|[1-9][0-9]{0,15})(?:\.(0|[1-9a-z][0-9a-z]{0,10}))?$/

/**
 * Reads an event id back (`<seq>.<tag>` or a plain seq), or `undefined` when the text is not
 * an id runbus issued (callers turn that into an `InvalidArgumentError`).
 */
export function parseEventId(id: string): EventPosition | undefined {
  const m = ID.exec(id)
  if (m === null) return undefined
  const seq = Number(m[1])
  if (!Number.isSafeInteger(seq)) return undefined
  if (m[2] === undefined) return { seq, epoch: undefined }
  const epoch = parseInt(m[2], 36)
  return Number.isSafeInteger(epoch) ? { seq, epoch } : undefined
}

/**
 * Turns an id back into its seq, or `undefined` when the text is not an id runbus issued
 * (callers turn that into an `InvalidArgumentError`).
 */
export function seqOfId(id: string): number | undefined {
  return parseEventId(id)?.seq
}

/** The incarnation an event id names, `undefined` when it names none (or is not an id). */
export function epochOfId(id: string): number | undefined {
  return parseEventId(id)?.epoch
}

/** The tag of an id (`''` for a plain one): to build the id of a neighbour seq of the same run. */
export function epochTagOfId(id: string): string {
  const dot = id.indexOf('.')
  return dot < 0 ? '' : id.slice(dot)
}

/**
 * Whether a position's incarnation (`epoch` of an id) and a run's (`createdAt`) can be the
 * same run. Unknown on either side: nothing to check, `true`.
 */
export function sameEpoch(a: number | undefined, b: number | undefined): boolean {
  return a === undefined || b === undefined || Math.floor(a) === Math.floor(b)
}
