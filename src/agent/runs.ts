/**
 * `rb.runs`: create and open runs, follow and read them, send to their inbox.
 */
import type { Context } from '../context.js'
import type { RunInfo, RunInit } from '../contract/contract.js'
import {
  epochTagOf,
  eventIdOf,
  parseEventId,
  sameEpoch,
  type GapData,
  type InboxMessage,
  type RunEvent,
  type RunEnd,
  type RunEndStatus,
  type RunStatus,
} from '../events/envelope.js'
import {
  InvalidArgumentError,
  RunEndedError,
  RunNotFoundError,
  RunResetError,
} from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { encodePayload } from '../events/codec.js'
import { checkRunId, newRunId } from '../events/ids.js'
import { Follower, type FollowOptions } from '../streams/follow.js'
import {
  appendById,
  checkMeta,
  endById,
  readInboxById,
  type ReadInboxOptions,
} from '../streams/by-id.js'
import type { AskFn } from '../asks/types.js'
import { Run } from './run.js'

/**
 * What `rb.runs.create()` takes.
 *
 * @example
 * ```ts
 * await rb.runs.create({ id: 'chat-42', meta: { user: 'ada' } })
 * ```
 */
export interface CreateRunOptions {
  /** The run id (1–128 of `A-Z a-z 0-9 _ . : -`); generated when absent. */
  id?: string
  /** Free-form JSON metadata stored with the run. */
  meta?: Record<string, unknown>
  /**
   * Who the run is for (the hub passes its token's subject): runs with an owner count
   * against `limits.maxRunningRunsPerOwner` until they end.
   */
  owner?: string
}

/**
 * A run as `get` and `list` report it.
 *
 * @example
 * ```ts
 * const { status, events, lastId } = await rb.runs.get(runId)
 * ```
 */
export interface RunSummary {
  id: string
  status: RunStatus
  meta?: Record<string, unknown>
  createdAt: number
  endedAt?: number
  error?: string
  /** Events ever appended (the `end` event counts). */
  events: number
  /** The id of the last event, `undefined` when none. */
  lastId: string | undefined
  /** The id of the first retained event, `undefined` when none is retained. */
  firstId: string | undefined
  /** Events removed by retention (`maxEvents`). */
  trimmed: number
}

/**
 * A stretch of a run's log, as `rb.runs.read()` returns it.
 *
 * @example
 * ```ts
 * const page = await rb.runs.read(runId, { after: lastId, limit: 100 })
 * ```
 */
export interface RunPage {
  events: RunEvent[]
  /** Set when events after `after` were trimmed before the first one returned. */
  gap?: GapData
  /** The id of the last event of the run at read time (`undefined`: none yet). */
  lastId: string | undefined
  /** Whether the run had ended at read time. */
  ended: boolean
}

/**
 * `rb.runs`: the run streams of a runbus instance.
 *
 * @example
 * ```ts
 * const run = await rb.runs.create()
 * for await (const e of rb.runs.follow(run.id)) console.log(e)
 * ```
 */
export interface RunsApi {
  /**
   * Creates a run and returns the agent's handle, with its inbox watch already in place.
   * @throws RunExistsError when the id is taken.
   */
  create(options?: CreateRunOptions): Promise<Run>
  /**
   * Creates a run without a handle (no inbox watch, nothing held in this process): for a
   * process that writes to it by id (`append`, `end`) or leaves it to another process.
   * @throws RunExistsError, InvalidArgumentError, PayloadTooLargeError (of `meta`).
   */
  add(options?: CreateRunOptions): Promise<RunSummary>
  /**
   * A handle on an existing run (another process created it, or the agent restarted).
   * @throws RunNotFoundError, RunEndedError.
   */
  open(runId: string): Promise<Run>
  /** @throws RunNotFoundError */
  get(runId: string): Promise<RunSummary>
  /** Runs, newest first (default limit 100). */
  list(options?: { status?: RunStatus; limit?: number }): Promise<RunSummary[]>
  /**
   * Reads stored events after `after` (an id or `'start'`, default), at most `limit` (default
   * 1000).
   * @throws RunNotFoundError; RunResetError when `after` is an id of an earlier incarnation
   * of the run id (the run was created again since).
   */
  read(runId: string, options?: { after?: string; limit?: number }): Promise<RunPage>
  /** Follows a run: history then live, ending after `end`. See {@link Follower}. */
  follow(runId: string, options?: FollowOptions): Follower
  /**
   * The id of the run's last event right now (`undefined`: none yet), a position to follow
   * after: `follow(id, { after: await rb.runs.tail(id) ?? 'start' })` misses nothing
   * appended after `tail` resolved.
   * @throws RunNotFoundError
   */
  tail(runId: string): Promise<string | undefined>
  /**
   * Appends a batch to a run by id, atomically, with the rules of `run.emit` (type 1–128
   * characters and not reserved, data within `limits.maxPayloadBytes`). For a process that
   * holds no handle (the hub); an agent uses its `Run`.
   * @throws RunNotFoundError, RunEndedError, InvalidArgumentError, PayloadTooLargeError.
   */
  append(
    runId: string,
    events: ReadonlyArray<{ type: string; data?: unknown }>,
  ): Promise<RunEvent[]>
  /**
   * Ends a run by id (once), with the instance's `retention.ttlMs`.
   * @throws RunNotFoundError, RunEndedError (it had ended), InvalidArgumentError.
   */
  end(
    runId: string,
    options?: { status?: RunEndStatus; error?: unknown },
  ): Promise<RunEvent<RunEnd>>
  /**
   * Reads a run's inbox by id; with `wait` (ms), waits until a message is there (long poll).
   * @throws RunNotFoundError, InvalidArgumentError.
   */
  readInbox(runId: string, options?: ReadInboxOptions): Promise<InboxMessage[]>
  /**
   * Sends a message to the run's inbox (`interrupt` also aborts the agent's `run.signal`).
   * @throws RunNotFoundError, RunEndedError, PayloadTooLargeError.
   */
  send(runId: string, message: { type: string; data?: unknown }): Promise<InboxMessage>
}

/** Turns the backend's RunInfo into the public summary. */
export function toSummary(info: RunInfo): RunSummary {
  const tag = epochTagOf(info.createdAt)
  const s: RunSummary = {
    id: info.id,
    status: info.status,
    createdAt: info.createdAt,
    events: info.lastSeq,
    lastId: info.lastSeq > 0 ? eventIdOf(info.lastSeq, tag) : undefined,
    firstId: info.firstSeq <= info.lastSeq ? eventIdOf(info.firstSeq, tag) : undefined,
    trimmed: info.trimmed,
  }
  if (info.meta !== undefined) s.meta = info.meta
  if (info.endedAt !== undefined) s.endedAt = info.endedAt
  if (info.error !== undefined) s.error = info.error
  return s
}

/** @internal Builds `rb.runs`; called by `createRunbus`. */
export function createRunsApi(ctx: Context, askFn: AskFn): RunsApi {
  const runs = ctx.backend.runs
  async function createRun(options: CreateRunOptions): Promise<string> {
    ctx.checkOpen()
    checkOptions('runs.create', options, { id: 'string', meta: 'object', owner: 'string' })
    const id = options.id === undefined ? newRunId() : checkRunId(options.id)
    const meta = options.meta === undefined ? undefined : checkMeta(ctx, options.meta)
    if (options.owner !== undefined && typeof options.owner !== 'string')
      throw new InvalidArgumentError('owner must be a string')
    const init: RunInit = {
      id,
      maxEvents: ctx.maxEvents,
      maxInboxMessages: ctx.maxInboxMessages,
      ts: Date.now(),
    }
    if (meta !== undefined) init.meta = meta
    if (options.owner !== undefined) init.owner = options.owner
    await runs.createRun(init)
    return id
  }
  return {
    async create(options = {}) {
      const id = await createRun(options)
      const run = new Run(ctx, id, askFn)
      await run.watchInbox()
      return run
    },

    async add(options = {}) {
      const id = await createRun(options)
      const info = await runs.getRun(id)
      if (info === undefined) throw new RunNotFoundError(id)
      return toSummary(info)
    },

    async tail(runId) {
      ctx.checkOpen()
      const info = await runs.getRun(runId)
      if (info === undefined) throw new RunNotFoundError(runId)
      return info.lastSeq > 0 ? eventIdOf(info.lastSeq, epochTagOf(info.createdAt)) : undefined
    },

    append: (runId, events) => appendById(ctx, runId, events),
    end: (runId, options) => endById(ctx, runId, options),
    readInbox: (runId, options) => readInboxById(ctx, runId, options),

    async open(runId) {
      ctx.checkOpen()
      const info = await runs.getRun(checkRunId(runId))
      if (info === undefined) throw new RunNotFoundError(runId)
      if (info.status !== 'running') throw new RunEndedError(runId)
      return new Run(ctx, runId, askFn)
    },

    async get(runId) {
      ctx.checkOpen()
      const info = await runs.getRun(runId)
      if (info === undefined) throw new RunNotFoundError(runId)
      return toSummary(info)
    },

    async list(options = {}) {
      ctx.checkOpen()
      const limit = options.limit ?? 100
      if (!Number.isInteger(limit) || limit < 1)
        throw new InvalidArgumentError('limit must be a positive integer')
      const q = options.status === undefined ? { limit } : { status: options.status, limit }
      return (await runs.listRuns(q)).map(toSummary)
    },

    async read(runId, options = {}) {
      ctx.checkOpen()
      const after = options.after ?? 'start'
      const pos = after === 'start' ? { seq: 0, epoch: undefined } : parseEventId(after)
      if (pos === undefined)
        throw new InvalidArgumentError(
          `after must be an event id or 'start', got ${JSON.stringify(after)}`,
        )
      const limit = options.limit ?? 1000
      if (!Number.isInteger(limit) || limit < 1)
        throw new InvalidArgumentError('limit must be a positive integer')
      const afterSeq = pos.seq
      const page = await runs.read(runId, afterSeq, limit)
      // A position of another incarnation of this run id is not a place in this log.
      if (!sameEpoch(pos.epoch, page.epoch)) throw new RunResetError(runId)
      const tag = epochTagOf(page.epoch)
      const out: RunPage = {
        events: page.events,
        lastId: page.lastSeq > 0 ? eventIdOf(page.lastSeq, tag) : undefined,
        ended: page.ended,
      }
      if (afterSeq + 1 < page.firstSeq)
        out.gap = { from: eventIdOf(afterSeq + 1, tag), to: eventIdOf(page.firstSeq - 1, tag) }
      return out
    },

    follow(runId, options) {
      return new Follower(ctx, runId, options)
    },

    async send(runId, message) {
      ctx.checkOpen()
      const type = message?.type
      if (typeof type !== 'string' || type.length === 0 || type.length > 128) {
        throw new InvalidArgumentError(
          'inbox message type must be a non-empty string of at most 128 characters',
        )
      }
      const { json } = encodePayload(
        message.data,
        ctx.maxPayloadBytes,
        `data of inbox message ${JSON.stringify(type)}`,
      )
      return runs.sendInbox(runId, { type, data: message.data, json, ts: Date.now() })
    },
  }
}
