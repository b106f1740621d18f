/**
 * Run operations by id, for a process that holds no `Run` handle (the hub acting for an HTTP
 * caller, a service writing to a run another process created). They store exactly what a
 * handle would: the same type rules, the same size limit on data and `meta`, the instance's
 * retention (`maxEvents`, `ttlMs`). Internal: exposed as `rb.runs.append/end/readInbox`.
 */
import type { Context } from '../context.js'
import type { EventDraft } from '../contract/contract.js'
import {
  RESERVED_TYPES,
  seqOfId,
  type InboxMessage,
  type RunEnd,
  type RunEndStatus,
  type RunEvent,
} from '../events/envelope.js'
import { InvalidArgumentError } from '../events/errors.js'
import { encodePayload } from '../events/codec.js'

const TYPE_MAX = 128

/**
 * Checks an event type an emitter may use: 1–128 characters, not one runbus writes itself.
 *
 * @throws InvalidArgumentError
 */
export function checkEventType(type: unknown): string {
  if (typeof type !== 'string' || type.length === 0 || type.length > TYPE_MAX) {
    throw new InvalidArgumentError(
      `event type must be a non-empty string of at most ${TYPE_MAX} characters`,
    )
  }
  if (RESERVED_TYPES.has(type)) {
    throw new InvalidArgumentError(
      `event type ${JSON.stringify(type)} is reserved for runbus itself`,
    )
  }
  return type
}

/**
 * @internal How errors name an event's data: `data of event "<type>"` (a run's emit, append by id).
 *
 * @example
 * ```ts
 * eventDataName('text') // 'data of event "text"'
 * ```
 */
export function eventDataName(type: string): string {
  return `data of event ${JSON.stringify(type)}`
}

/**
 * @internal Checks and encodes run metadata (a plain JSON object, within the payload limit).
 *
 * @throws InvalidArgumentError, PayloadTooLargeError
 */
export function checkMeta(ctx: Context, meta: unknown): Record<string, unknown> {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new InvalidArgumentError('meta must be a plain object')
  }
  encodePayload(meta, ctx.maxPayloadBytes, 'run meta')
  return meta as Record<string, unknown>
}

/** @internal Appends a batch to a run by id, atomically (all or none). */
export async function appendById(
  ctx: Context,
  runId: string,
  events: ReadonlyArray<{ type: string; data?: unknown }>,
): Promise<RunEvent[]> {
  ctx.checkOpen()
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidArgumentError('append takes a non-empty array of events')
  }
  const ts = Date.now()
  const drafts: EventDraft[] = events.map((e: { type: string; data?: unknown } | null) => {
    const type = checkEventType(e?.type)
    const data: unknown = e?.data === undefined ? null : e.data
    const { json } = encodePayload(data, ctx.maxPayloadBytes, eventDataName(type))
    return { type, data, json, ts }
  })
  return ctx.backend.runs.append(runId, drafts)
}

/** @internal Ends a run by id (once): appends its `end` event; it expires after the instance's TTL. */
export async function endById(
  ctx: Context,
  runId: string,
  options: { status?: RunEndStatus; error?: unknown } = {},
): Promise<RunEvent<RunEnd>> {
  ctx.checkOpen()
  const status = options.status ?? 'completed'
  if (status !== 'completed' && status !== 'failed' && status !== 'cancelled') {
    throw new InvalidArgumentError(
      `end status must be completed, failed or cancelled, got ${JSON.stringify(status)}`,
    )
  }
  const end: RunEnd = { status }
  if (options.error !== undefined) {
    const err: unknown = options.error
    end.error =
      err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err)
  }
  return ctx.backend.runs.endRun(runId, end, Date.now(), ctx.ttlMs)
}

/** What `rb.runs.readInbox` takes. */
export interface ReadInboxOptions {
  /** Messages after this inbox message id (default: from the first). */
  after?: string | undefined
  /** At most this many (default 100). */
  limit?: number | undefined
  /** When there is none yet, wait up to this many ms for one (default 0: answer at once). */
  wait?: number | undefined
  /** Ends the wait early (resolves with what is there, usually nothing). */
  signal?: AbortSignal | undefined
}

/**
 * @internal Reads a run's inbox by id; with `wait`, a long poll: the watch is in place before the
 * second read, so a message sent between the first read and the watch is not missed.
 */
export async function readInboxById(
  ctx: Context,
  runId: string,
  options: ReadInboxOptions = {},
): Promise<InboxMessage[]> {
  ctx.checkOpen()
  const after = options.after === undefined ? 0 : seqOfId(options.after)
  if (after === undefined) {
    throw new InvalidArgumentError(
      `after must be an inbox message id, got ${JSON.stringify(options.after)}`,
    )
  }
  const limit = options.limit ?? 100
  if (!Number.isInteger(limit) || limit < 1) {
    throw new InvalidArgumentError('limit must be a positive integer')
  }
  const wait = options.wait ?? 0
  if (!(wait >= 0) || !Number.isFinite(wait)) {
    throw new InvalidArgumentError('wait must be a non-negative number of milliseconds')
  }
  const runs = ctx.backend.runs
  const signal = options.signal
  const first = await runs.readInbox(runId, after, limit)
  if (first.length > 0 || wait === 0 || signal?.aborted === true) return first
  let wake!: () => void
  const woken = new Promise<void>((r) => (wake = r))
  const unwatch = await runs.watchInbox(runId, { onMessages: () => wake() })
  const timer = setTimeout(() => wake(), wait)
  const onAbort = (): void => wake()
  signal?.addEventListener('abort', onAbort, { once: true })
  const untrack = ctx.track('waiter', { close: () => wake() })
  try {
    const again = await runs.readInbox(runId, after, limit)
    if (again.length > 0) return again
    await woken
    ctx.checkOpen()
    return await runs.readInbox(runId, after, limit)
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
    untrack()
    unwatch()
  }
}
