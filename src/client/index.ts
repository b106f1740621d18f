/**
 * `runbus/client`: follow runs, answer asks, steer agents and publish, from browsers and
 * Node 20 alike. Speaks the hub's HTTP/SSE protocol (`PROTOCOL.md`) with nothing but
 * `fetch`, streams and timers, plus `eventsource-parser` for the SSE framing: no Node-only
 * import anywhere below this file.
 *
 * @example
 * ```ts
 * import { createClient } from 'runbus/client'
 *
 * const hub = createClient({ baseUrl: 'http://127.0.0.1:8787', token })
 * const { run } = await hub.createRun()
 * for await (const ev of hub.follow(run.id)) {
 *   if (ev.type === 'ask') await hub.answer((ev.data as { id: string }).id, true)
 * }
 * ```
 */
import type { InboxMessage, RunEndStatus, RunStatus } from '../events/envelope.js'
import { InvalidArgumentError } from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { createFollow, type Follow, type FollowOptions } from './follow.js'
import { requestJson, seg, type FetchLike, type Transport } from './http.js'

export {
  HubError,
  RunbusError,
  AbortedError,
  DecodeError,
  RunResetError,
} from '../events/errors.js'
export type {
  RunEvent,
  RunEnd,
  RunEndStatus,
  RunStatus,
  GapData,
  InboxMessage,
} from '../events/envelope.js'
export { isEvent } from '../asks/builtin-events.js'
export type {
  BuiltinEvent,
  BuiltinEventData,
  ErrorData,
  StatusData,
  TextData,
  ToolCallData,
  ToolResultData,
} from '../asks/builtin-events.js'
export type { AnswerEventData, AskEventData, AskExpiredEventData } from '../asks/types.js'
export {
  backoffDelay,
  DEFAULT_RECONNECT_BACKOFF,
  type Backoff,
  type BackoffOptions,
} from '../events/jitter.js'
export type {
  ConnectionState,
  Follow,
  FollowEventMap,
  FollowOptions,
  GapNotice,
  StateChange,
} from './follow.js'
export type { FetchLike } from './http.js'

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** The hub's base URL, e.g. `http://127.0.0.1:8787` (a path prefix is kept). */
  baseUrl: string
  /**
   * A bearer token (HS256 JWT from `runbus token`), or a function returning the current
   * one (read before every request, so it can be rotated). Omit on an `--insecure` hub.
   */
  token?: string | (() => string | undefined)
  /** The `fetch` to use; defaults to the global one. */
  fetch?: FetchLike
}

/** A run as the hub describes it (`GET /v1/runs/{run}`). */
export interface RunInfo {
  id: string
  status: RunStatus
  /** The id of the last event, if any. */
  lastId?: string | null
  /** How many events the run holds. */
  events?: number
  createdAt?: number | string
  endedAt?: number | string
  meta?: unknown
  /** Connections following this run on the answering hub (not across hubs). */
  readers?: number
  [extra: string]: unknown
}

/** The answer of {@link Client.createRun}: the run, and tokens for it when the hub mints them. */
export interface CreatedRun {
  run: RunInfo
  tokens?: Record<string, string>
}

/** The kinds of asks runbus knows; hubs may accept more. */
export type AskKind = 'confirm' | 'text' | 'choice' | 'form' | 'human_as_model' | (string & {})

/** What an agent asks a person (`POST /v1/runs/{run}/asks`). */
export interface AskRequest {
  kind: AskKind
  /** The question, for a person. */
  prompt: string
  /** Context to show with it (a diff, the instruction to paste into a model…). */
  data?: unknown
  /** For `choice` asks: the options. */
  choices?: unknown[]
  /** Expire after this many ms without an answer. */
  timeout?: number
}

/** An ask as the hub describes it. */
export interface AskInfo {
  id: string
  run: string
  kind: AskKind
  prompt: string
  data?: unknown
  choices?: unknown[]
  /** `pending`, `answered`, `expired`… */
  state: string
  answer?: unknown
  [extra: string]: unknown
}

/** An event to append: a type and its data. */
export interface EventInput {
  type: string
  data?: unknown
}

/** A message for a run's inbox (`steer`, `interrupt`, or a type of your own). */
export interface InboxInput {
  type: 'steer' | 'interrupt' | (string & {})
  data?: unknown
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the request; it rejects with the signal's reason. */
  signal?: AbortSignal
}

/**
 * A connection to one hub. Every method is one HTTP request (except {@link Client.follow},
 * a long-lived SSE stream) and rejects with a {@link HubError} carrying the hub's `code`
 * and the HTTP `status`.
 */
export interface Client {
  /** The hub's base URL, as given. */
  readonly baseUrl: string
  /**
   * Follows a run: an async iterable of its events that reconnects by itself (full-jitter
   * capped back-off), resumes from the last id, drops duplicates, yields `gap` events where
   * history was lost, and finishes after the run's `end`. See {@link Follow}.
   */
  follow(run: string, options?: FollowOptions): Follow
  /** Creates a run (`write` scope). The hub picks the id when `id` is absent. */
  createRun(options?: { id?: string; meta?: unknown }, call?: CallOptions): Promise<CreatedRun>
  /** Reads a run: status, last id, event count, and `readers` on this hub. */
  getRun(run: string, call?: CallOptions): Promise<RunInfo>
  /** Lists runs, optionally by status. */
  listRuns(options?: { status?: RunStatus }, call?: CallOptions): Promise<RunInfo[]>
  /** Appends one event or a batch (`write` scope); returns their ids in order. */
  append(run: string, events: EventInput | EventInput[], call?: CallOptions): Promise<string[]>
  /** Ends a run once (`write` scope); a second end is refused with 409 `run_ended`. */
  end(run: string, end: { status: RunEndStatus; error?: string }, call?: CallOptions): Promise<void>
  /** Sends a message to a run's inbox (`answer` scope): steer the agent or interrupt it. */
  send(run: string, message: InboxInput, call?: CallOptions): Promise<void>
  /**
   * Reads a run's inbox after `after` (an inbox message id), oldest first: how an agent
   * that talks to the hub over HTTP sees steering and interrupts (`write` scope). With
   * `wait` (seconds) the hub holds the request until a message comes or the time is up
   * (a long poll), so an interrupt reaches the agent at once.
   */
  readInbox(
    run: string,
    options?: { after?: string; wait?: number },
    call?: CallOptions,
  ): Promise<InboxMessage[]>
  /** Publishes on a bus channel (`write` scope); not kept, only live subscribers see it. */
  publish(channel: string, data: unknown, call?: CallOptions): Promise<void>
  /** Opens an ask on a run (`write` scope); it shows up in the run as an `ask` event. */
  ask(run: string, ask: AskRequest, call?: CallOptions): Promise<AskInfo>
  /**
   * Reads one ask, with its state and answer. With `wait` (seconds) the hub holds the
   * request until the ask is no longer pending or the time is up (a long poll).
   */
  getAsk(askId: string, call?: CallOptions & { wait?: number }): Promise<AskInfo>
  /** Lists a run's asks, optionally only the `pending` ones. */
  listAsks(run: string, options?: { state?: string }, call?: CallOptions): Promise<AskInfo[]>
  /**
   * Answers an ask (`answer` scope). The first valid answer wins: a second one is refused
   * with 409 `ask_answered`, a late one with 410 `ask_expired`, a wrong shape with 400.
   * `by` labels who answers (kept in the `answer` event; the token's subject otherwise).
   */
  answer(askId: string, value: unknown, call?: CallOptions & { by?: string }): Promise<AskInfo>
}

function listOf<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[]
  const inner = (body as Record<string, unknown> | undefined)?.[key]
  return Array.isArray(inner) ? (inner as T[]) : []
}

function runOf(body: unknown): RunInfo {
  // Accept both `{ …run }` and `{ run: {…} }`.
  const inner = (body as { run?: unknown } | undefined)?.run
  return (typeof inner === 'object' && inner !== null ? inner : body) as RunInfo
}

function askOf(body: unknown): AskInfo {
  const inner = (body as { ask?: unknown } | undefined)?.ask
  return (typeof inner === 'object' && inner !== null ? inner : body) as AskInfo
}

function need(value: string, what: string): string {
  if (typeof value !== 'string' || value === '')
    throw new InvalidArgumentError(`${what} must be a non-empty string`)
  return value
}

/**
 * Creates a client for one hub.
 *
 * @example
 * ```ts
 * const hub = createClient({ baseUrl: location.origin, token: sessionStorage.getItem('token') ?? undefined })
 * const follow = hub.follow(runId, { live: true })
 * follow.on('state', ({ state }) => pill.textContent = state)
 * for await (const ev of follow) render(ev)
 * ```
 */
export function createClient(options: ClientOptions): Client {
  checkOptions('createClient', options, {
    baseUrl: 'string',
    token: ['string', 'function'],
    fetch: 'function',
  })
  if (typeof options?.baseUrl !== 'string' || options.baseUrl === '')
    throw new InvalidArgumentError('baseUrl must be a non-empty string')
  const token = options.token
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const transport: Transport = {
    baseUrl: options.baseUrl,
    fetch: fetchImpl,
    token: typeof token === 'function' ? token : () => token,
  }
  const call = <T>(
    method: string,
    path: string,
    body: unknown,
    opts: CallOptions | undefined,
    query?: Record<string, string>,
  ): Promise<T> => {
    const o: { body?: unknown; query?: Record<string, string>; signal?: AbortSignal } = {}
    if (body !== undefined) o.body = body
    if (query) o.query = query
    if (opts?.signal) o.signal = opts.signal
    return requestJson<T>(transport, method, path, o)
  }

  return {
    baseUrl: options.baseUrl,
    follow: (run, followOptions) => createFollow(transport, need(run, 'run'), followOptions),
    async createRun(runOptions = {}, opts) {
      const body: Record<string, unknown> = {}
      if (runOptions.id !== undefined) body.id = runOptions.id
      if (runOptions.meta !== undefined) body.meta = runOptions.meta
      const answer = await call<{ run?: RunInfo; tokens?: Record<string, string> }>(
        'POST',
        '/v1/runs',
        body,
        opts,
      )
      const created: CreatedRun = { run: runOf(answer) }
      if (answer?.tokens) created.tokens = answer.tokens
      return created
    },
    async getRun(run, opts) {
      return runOf(await call('GET', `/v1/runs/${seg(need(run, 'run'))}`, undefined, opts))
    },
    async listRuns(listOptions = {}, opts) {
      const query = listOptions.status ? { status: listOptions.status } : undefined
      return listOf<RunInfo>(await call('GET', '/v1/runs', undefined, opts, query), 'runs')
    },
    async append(run, events, opts) {
      const answer = await call<{ ids?: string[] }>(
        'POST',
        `/v1/runs/${seg(need(run, 'run'))}/events`,
        events,
        opts,
      )
      return answer?.ids ?? []
    },
    async end(run, end, opts) {
      await call('POST', `/v1/runs/${seg(need(run, 'run'))}/end`, end, opts)
    },
    async send(run, message, opts) {
      await call('POST', `/v1/runs/${seg(need(run, 'run'))}/inbox`, message, opts)
    },
    async readInbox(run, inboxOptions = {}, opts) {
      const query: Record<string, string> = {}
      if (inboxOptions.after !== undefined) query.after = inboxOptions.after
      if (inboxOptions.wait !== undefined)
        query.wait = String(Math.max(0, Math.floor(inboxOptions.wait)))
      const body = await call(
        'GET',
        `/v1/runs/${seg(need(run, 'run'))}/inbox`,
        undefined,
        opts,
        query,
      )
      return listOf<InboxMessage>(body, 'messages')
    },
    async publish(channel, data, opts) {
      await call('POST', `/v1/channels/${seg(need(channel, 'channel'))}`, { data }, opts)
    },
    async ask(run, ask, opts) {
      return askOf(await call('POST', `/v1/runs/${seg(need(run, 'run'))}/asks`, ask, opts))
    },
    async getAsk(askId, opts) {
      const wait = opts?.wait
      const query = wait !== undefined ? { wait: String(Math.max(0, Math.floor(wait))) } : undefined
      const path = `/v1/asks/${seg(need(askId, 'askId'))}`
      return askOf(await call('GET', path, undefined, opts, query))
    },
    async listAsks(run, listOptions = {}, opts) {
      const query = listOptions.state ? { state: listOptions.state } : undefined
      const body = await call(
        'GET',
        `/v1/runs/${seg(need(run, 'run'))}/asks`,
        undefined,
        opts,
        query,
      )
      return listOf<AskInfo>(body, 'asks')
    },
    async answer(askId, value, opts) {
      const body = opts?.by !== undefined ? { answer: value, by: opts.by } : { answer: value }
      return askOf(await call('POST', `/v1/asks/${seg(need(askId, 'askId'))}/answer`, body, opts))
    },
  }
}
