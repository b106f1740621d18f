/**
 * The routes of PROTOCOL.md over the hub's own request view (`HubRequest` → `HubResponse`).
 * Adapters (`fetch`, `node:http`) turn real requests into that view; everything else —
 * auth, validation, error mapping, streams — happens here once.
 *
 * Invariant: whatever arrives, the answer is a success or the protocol's JSON error with a
 * 4xx status; only a bug of ours becomes a 500.
 */
import { idOfSeq, RESERVED_TYPES, seqOfId, type RunStatus } from '../events/envelope.js'
import type { RunInfo } from '../contract/contract.js'
import {
  ForbiddenError,
  InvalidArgumentError,
  NotFoundError,
  UnauthorizedError,
} from '../events/errors.js'
import { checkRunId } from '../events/ids.js'
import { checkChannel, checkPattern } from '../contract/patterns.js'
import {
  OPEN_CLAIMS,
  requireScope,
  signToken,
  tokenOf,
  type Scope,
  type TokenClaims,
  type TokenVerifier,
} from './auth.js'
import { MethodNotAllowedError } from './errors.js'
import { type RunFanout, type StreamFormat } from './fanout.js'
import type { BusFanout } from './bus-fanout.js'
import {
  CORS_HEADERS,
  STREAM_HEADERS,
  checkDeclaredLength,
  errorResponse,
  json,
  readJson,
  type HubRequest,
  type HubResponse,
} from './http.js'
import type { HubMetrics } from './metrics.js'
import type { AskWire, HubOps } from './ops.js'
import type { CompatRoutes } from './compat.js'
import {
  eventType,
  objectBody,
  oneOf,
  optNumber,
  optObject,
  optStr,
  optText,
  queryFlag,
  queryInt,
  str,
  type JsonObject,
} from './validate.js'

/** What the routes are wired to. */
export interface RouteContext {
  readonly ops: HubOps
  readonly fanout: RunFanout
  readonly bus: BusFanout
  readonly metrics: HubMetrics
  readonly compat: CompatRoutes
  /** Undefined on an insecure hub: everyone is admin. */
  readonly verifier: TokenVerifier | undefined
  /** The secret, to mint run tokens on `POST /v1/runs`. */
  readonly secret: string | Uint8Array | undefined
  readonly maxBodyBytes: number
  readonly runTokenTtlSeconds: number
  /** Mount prefix stripped from paths, e.g. `/runbus` ('' for none). */
  readonly basePath: string
  readonly cors: boolean
  /** Longest `?wait=` on `GET /v1/asks/{ask}`, in seconds. */
  readonly maxAskWaitSeconds: number
  /** Called with errors that became 500s. */
  readonly onError: (err: unknown) => void
}

const RUN_STATUSES: readonly RunStatus[] = ['running', 'completed', 'failed', 'cancelled']
const END_STATUSES = ['completed', 'failed', 'cancelled'] as const

/** A run as `GET /v1/runs/{run}` describes it. */
export function runWire(info: RunInfo, readers?: number): Record<string, unknown> {
  return {
    id: info.id,
    status: info.status,
    lastId: info.lastSeq > 0 ? idOfSeq(info.lastSeq) : null,
    events: info.lastSeq - info.trimmed,
    createdAt: info.createdAt,
    ...(info.endedAt !== undefined ? { endedAt: info.endedAt } : {}),
    ...(info.error !== undefined ? { error: info.error } : {}),
    ...(info.meta !== undefined ? { meta: info.meta } : {}),
    ...(readers !== undefined ? { readers } : {}),
  }
}

type Params = string[]
type Route = (req: HubRequest, p: Params, ctx: RouteContext) => Promise<HubResponse>

interface RouteDef {
  /** Template for metrics labels. */
  name: string
  methods: Partial<Record<string, Route>>
}

/** Splits and decodes a path (after the mount prefix). Malformed escapes are a 400. */
function segmentsOf(pathname: string, basePath: string): string[] | undefined {
  let path = pathname
  if (basePath !== '') {
    if (path !== basePath && !path.startsWith(basePath + '/')) return undefined
    path = path.slice(basePath.length)
  }
  const raw = path.split('/').filter((s, i) => !(i === 0 && s === ''))
  if (raw.length > 1 && raw.at(-1) === '') raw.pop()
  return raw.map((s) => {
    try {
      return decodeURIComponent(s)
    } catch {
      throw new InvalidArgumentError('the path has a malformed %-escape')
    }
  })
}

/** Finds the route for a path: its definition and the path parameters. */
function match(segs: string[]): { def: RouteDef; params: Params } | undefined {
  const [a, b, c, d] = segs
  const n = segs.length
  if (n === 1 && a === 'healthz') return { def: ROUTES.healthz, params: [] }
  if (n === 1 && a === 'metrics') return { def: ROUTES.metrics, params: [] }
  if (a === 'api' && b === 'event' && n === 3) {
    if (c === 'get') return { def: ROUTES.compatGet, params: [] }
    if (c === 'response') return { def: ROUTES.compatResponse, params: [] }
    return undefined
  }
  if (a !== 'v1') return undefined
  if (b === 'runs') {
    if (n === 2) return { def: ROUTES.runs, params: [] }
    if (n === 3) return { def: ROUTES.run, params: [c] }
    if (n === 4) {
      const def =
        d === 'events'
          ? ROUTES.runEvents
          : d === 'end'
            ? ROUTES.runEnd
            : d === 'inbox'
              ? ROUTES.runInbox
              : d === 'asks'
                ? ROUTES.runAsks
                : undefined
      return def ? { def, params: [c] } : undefined
    }
    return undefined
  }
  if (b === 'asks') {
    if (n === 3) return { def: ROUTES.ask, params: [c] }
    if (n === 4 && d === 'answer') return { def: ROUTES.askAnswer, params: [c] }
    return undefined
  }
  if (b === 'channels') {
    if (n === 3) return { def: ROUTES.channel, params: [c] }
    if (n === 4 && d === 'events') return { def: ROUTES.channelEvents, params: [c] }
    return undefined
  }
  return undefined
}

/** The caller's identity: the open one on an insecure hub, else a verified token (401 otherwise). */
async function claimsOf(req: HubRequest, ctx: RouteContext): Promise<TokenClaims> {
  if (!ctx.verifier) return OPEN_CLAIMS
  const token = tokenOf(req.header('authorization'), req.url)
  if (token === undefined)
    throw new UnauthorizedError('a token is required (Authorization: Bearer … or ?token=)')
  return ctx.verifier.verify(token)
}

async function authorize(
  req: HubRequest,
  ctx: RouteContext,
  scope: Scope,
  run?: string,
): Promise<TokenClaims> {
  const claims = await claimsOf(req, ctx)
  requireScope(claims, scope, run)
  return claims
}

/** Channels are not runs: only tokens for every run (`runs: "*"`) may use them. */
async function authorizeChannels(req: HubRequest, ctx: RouteContext, scope: Scope): Promise<void> {
  const claims = await claimsOf(req, ctx)
  requireScope(claims, scope)
  if (claims.runs !== '*')
    throw new ForbiddenError('bus channels need a token for every run (runs: "*")')
}

async function body(req: HubRequest, ctx: RouteContext): Promise<unknown> {
  checkDeclaredLength(req.header('content-length'), ctx.maxBodyBytes)
  return readJson(req, ctx.maxBodyBytes)
}

function runParam(p: Params): string {
  return checkRunId(p[0])
}

function askParam(p: Params): string {
  const id = p[0] ?? ''
  if (id.length === 0 || id.length > 200) throw new InvalidArgumentError('bad ask id')
  return id
}

/** Where a follower starts: `Last-Event-ID`, else `?after`, else the start; `?live=1` from now. */
function startOf(req: HubRequest): { after: number | 'now'; explicit: boolean } {
  const header = req.header('last-event-id')
  const query = req.url.searchParams.get('after')
  const raw =
    header !== undefined && header !== ''
      ? header
      : query !== null && query !== ''
        ? query
        : undefined
  if (raw !== undefined) {
    const seq = seqOfId(raw.trim())
    if (seq === undefined)
      throw new InvalidArgumentError(`${JSON.stringify(raw)} is not an event id`)
    return { after: seq, explicit: true }
  }
  if (queryFlag(req.url, 'live')) return { after: 'now', explicit: false }
  return { after: 0, explicit: false }
}

function formatOf(req: HubRequest): StreamFormat {
  const f = req.url.searchParams.get('format')
  if (f === null || f === '' || f === 'sse') return 'sse'
  if (f === 'ndjson') return 'ndjson'
  throw new InvalidArgumentError('?format must be sse or ndjson')
}

const CONTENT_TYPE: Record<StreamFormat, string> = {
  sse: 'text/event-stream; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
}

async function assertAskRun(
  ask: AskWire,
  req: HubRequest,
  ctx: RouteContext,
  scope: Scope,
): Promise<void> {
  await authorize(req, ctx, scope, ask.run)
}

const ROUTES = {
  healthz: {
    name: '/healthz',
    methods: {
      GET: async (_req, _p, ctx) => {
        try {
          await ctx.ops.backend.ping()
          return json(200, { ok: true, backend: ctx.ops.backend.name })
        } catch (err) {
          return json(503, {
            error: {
              code: 'backend_unavailable',
              message: err instanceof Error ? err.message : 'backend did not answer',
            },
          })
        }
      },
    },
  },
  metrics: {
    name: '/metrics',
    methods: {
      GET: async (_req, _p, ctx) => {
        const { body, contentType } = await ctx.metrics.text()
        return { status: 200, text: { body, contentType } }
      },
    },
  },
  runs: {
    name: '/v1/runs',
    methods: {
      POST: async (req, _p, ctx) => {
        const claims = await authorize(req, ctx, 'write')
        const raw = await body(req, ctx)
        const b = raw === undefined ? {} : objectBody(raw, ['id', 'meta'])
        const id = b.id === undefined ? undefined : checkRunId(b.id)
        if (claims.runs !== '*' && (id === undefined || !claims.runs.includes(id))) {
          throw new ForbiddenError('this token may only create the runs it names (give their "id")')
        }
        const info = await ctx.ops.createRun(id, optObject(b, 'meta'))
        ctx.metrics.runsCreated.inc()
        const out: Record<string, unknown> = { run: runWire(info, 0) }
        if (ctx.secret !== undefined) {
          const ttlSeconds = ctx.runTokenTtlSeconds
          out.tokens = {
            read: await signToken(ctx.secret, {
              sub: 'run-reader',
              runs: [info.id],
              scope: ['read'],
              ttlSeconds,
            }),
            answer: await signToken(ctx.secret, {
              sub: 'run-answerer',
              runs: [info.id],
              scope: ['read', 'answer'],
              ttlSeconds,
            }),
          }
        }
        return json(201, out)
      },
      GET: async (req, _p, ctx) => {
        const claims = await authorize(req, ctx, 'read')
        const s = req.url.searchParams.get('status')
        let status: RunStatus | undefined
        if (s !== null && s !== '') {
          if (!(RUN_STATUSES as readonly string[]).includes(s)) {
            throw new InvalidArgumentError(`?status must be one of ${RUN_STATUSES.join(', ')}`)
          }
          status = s as RunStatus
        }
        const limit = queryInt(req.url, 'limit', 100, 1, 1000)
        let runs = await ctx.ops.listRuns(status, limit)
        if (claims.runs !== '*') {
          const allowed = claims.runs
          runs = runs.filter((r) => allowed.includes(r.id))
        }
        return json(200, { runs: runs.map((r) => runWire(r, ctx.fanout.readers(r.id))) })
      },
    },
  },
  run: {
    name: '/v1/runs/:run',
    methods: {
      GET: async (req, p, ctx) => {
        const run = runParam(p)
        await authorize(req, ctx, 'read', run)
        const info = await ctx.ops.getRun(run)
        return json(200, runWire(info, ctx.fanout.readers(run)))
      },
    },
  },
  runEvents: {
    name: '/v1/runs/:run/events',
    methods: {
      POST: async (req, p, ctx) => {
        const run = runParam(p)
        await authorize(req, ctx, 'write', run)
        const raw = await body(req, ctx)
        const list = Array.isArray(raw) ? raw : [raw]
        if (list.length === 0) throw new InvalidArgumentError('no events given')
        if (list.length > 1000) throw new InvalidArgumentError('at most 1000 events per request')
        const drafts = list.map((item, i) => {
          const o = objectBody(item, ['type', 'data'], Array.isArray(raw) ? `event ${i}` : 'body')
          return { type: eventType(o, RESERVED_TYPES), data: o.data === undefined ? null : o.data }
        })
        const events = await ctx.ops.append(run, drafts)
        ctx.metrics.eventsIn.inc(events.length)
        return json(201, { ids: events.map((e) => e.id) })
      },
      GET: async (req, p, ctx) => {
        const run = runParam(p)
        await authorize(req, ctx, 'read', run)
        const format = formatOf(req)
        const start = startOf(req)
        const info = await ctx.ops.getRun(run)
        const afterSeq = start.after === 'now' ? info.lastSeq : start.after
        return {
          status: 200,
          contentType: CONTENT_TYPE[format],
          headers: STREAM_HEADERS,
          start: (sink) => {
            void ctx.fanout.attach(run, sink, format, { afterSeq, explicit: start.explicit })
          },
        }
      },
    },
  },
  runEnd: {
    name: '/v1/runs/:run/end',
    methods: {
      POST: async (req, p, ctx) => {
        const run = runParam(p)
        await authorize(req, ctx, 'write', run)
        const b = objectBody(await body(req, ctx), ['status', 'error'])
        const status = oneOf(b, 'status', END_STATUSES)
        const error = optText(b, 'error', 10_000)
        const ev = await ctx.ops.end(run, error === undefined ? { status } : { status, error })
        return json(200, { id: ev.id, status })
      },
    },
  },
  runInbox: {
    name: '/v1/runs/:run/inbox',
    methods: {
      GET: async (req, p, ctx) => {
        const run = runParam(p)
        await authorize(req, ctx, 'write', run)
        const raw = req.url.searchParams.get('after')
        let after = 0
        if (raw !== null && raw !== '') {
          const seq = seqOfId(raw)
          if (seq === undefined)
            throw new InvalidArgumentError(`${JSON.stringify(raw)} is not an inbox message id`)
          after = seq
        }
        const limit = queryInt(req.url, 'limit', 100, 1, 1000)
        const waitS = queryInt(req.url, 'wait', 0, 0, ctx.maxAskWaitSeconds)
        await ctx.ops.getRun(run)
        return json(200, {
          messages: await readInbox(ctx, run, after, limit, waitS * 1000, req.signal),
        })
      },
      POST: async (req, p, ctx) => {
        const run = runParam(p)
        await authorize(req, ctx, 'answer', run)
        const b = objectBody(await body(req, ctx), ['type', 'data'])
        const msg = await ctx.ops.sendInbox(
          run,
          str(b, 'type'),
          b.data === undefined ? null : b.data,
        )
        return json(202, { id: msg.id, seq: msg.seq })
      },
    },
  },
  runAsks: {
    name: '/v1/runs/:run/asks',
    methods: {
      GET: async (req, p, ctx) => {
        const run = runParam(p)
        await authorize(req, ctx, 'read', run)
        const state = req.url.searchParams.get('state')
        if (state !== null && state !== '' && state !== 'pending' && state !== 'all') {
          throw new InvalidArgumentError('?state must be pending or all')
        }
        await ctx.ops.getRun(run)
        return json(200, { asks: await ctx.ops.listAsks(run, state === 'pending') })
      },
      POST: async (req, p, ctx) => {
        const run = runParam(p)
        await authorize(req, ctx, 'write', run)
        const b: JsonObject = objectBody(await body(req, ctx), [
          'kind',
          'prompt',
          'data',
          'choices',
          'timeout',
        ])
        const choices = b.choices
        if (
          choices !== undefined &&
          (!Array.isArray(choices) || choices.length === 0 || choices.length > 100)
        ) {
          throw new InvalidArgumentError('"choices" must be a non-empty array of at most 100 items')
        }
        const timeout = optNumber(b, 'timeout', 1, 7 * 24 * 3600 * 1000)
        const ask = await ctx.ops.createAsk(run, {
          kind: str(b, 'kind', 64),
          prompt: optText(b, 'prompt', 100_000) ?? '',
          ...(b.data !== undefined ? { data: b.data } : {}),
          ...(choices !== undefined ? { choices: choices as unknown[] } : {}),
          ...(timeout !== undefined ? { timeout } : {}),
        })
        return json(201, ask)
      },
    },
  },
  ask: {
    name: '/v1/asks/:ask',
    methods: {
      GET: async (req, p, ctx) => {
        const id = askParam(p)
        await authorize(req, ctx, 'read')
        const waitS = queryInt(req.url, 'wait', 0, 0, ctx.maxAskWaitSeconds)
        const ask = await ctx.ops.getAsk(id)
        await assertAskRun(ask, req, ctx, 'read')
        if (waitS === 0 || ask.state !== 'pending') return json(200, ask)
        return json(200, await ctx.ops.waitAsk(id, waitS * 1000, req.signal))
      },
    },
  },
  askAnswer: {
    name: '/v1/asks/:ask/answer',
    methods: {
      POST: async (req, p, ctx) => {
        const id = askParam(p)
        const claims = await authorize(req, ctx, 'answer')
        const b = objectBody(await body(req, ctx), ['answer', 'by'])
        if (!('answer' in b)) throw new InvalidArgumentError('"answer" is required')
        const ask = await ctx.ops.getAsk(id)
        await assertAskRun(ask, req, ctx, 'answer')
        const by = optStr(b, 'by', 200) ?? (claims.sub || undefined)
        const answered = await ctx.ops.answer(id, b.answer, by)
        ctx.metrics.asksAnswered.inc()
        return json(200, answered)
      },
    },
  },
  channel: {
    name: '/v1/channels/:channel',
    methods: {
      POST: async (req, p, ctx) => {
        await authorizeChannels(req, ctx, 'write')
        const channel = checkChannel(p[0])
        const b = objectBody(await body(req, ctx), ['data'])
        await ctx.ops.publish(channel, b.data === undefined ? null : b.data)
        ctx.metrics.published.inc()
        return json(202, { ok: true })
      },
    },
  },
  channelEvents: {
    name: '/v1/channels/:pattern/events',
    methods: {
      GET: async (req, p, ctx) => {
        await authorizeChannels(req, ctx, 'read')
        const pattern = checkPattern(p[0])
        const format = formatOf(req)
        return {
          status: 200,
          contentType: CONTENT_TYPE[format],
          headers: STREAM_HEADERS,
          start: (sink) => {
            void ctx.bus.attach(pattern, sink, format)
          },
        }
      },
    },
  },
  compatGet: {
    name: '/api/event/get',
    methods: {
      POST: async (req, _p, ctx) => {
        const b = objectBody(await body(req, ctx), ['request_id'])
        const run = checkRunId(b.request_id)
        await authorize(req, ctx, 'read', run)
        return ctx.compat.get(run, req.signal)
      },
    },
  },
  compatResponse: {
    name: '/api/event/response',
    methods: {
      POST: async (req, _p, ctx) => {
        const b = objectBody(await body(req, ctx), ['request_id', 'event', 'response'])
        const run = checkRunId(b.request_id)
        const claims = await authorize(req, ctx, 'answer', run)
        if (!('response' in b)) throw new InvalidArgumentError('"response" is required')
        return ctx.compat.respond(run, b.event, b.response, claims.sub || undefined)
      },
    },
  },
} satisfies Record<string, RouteDef>

/** Inbox messages after `after`; with `waitMs`, waits (long poll) until at least one arrives. */
async function readInbox(
  ctx: RouteContext,
  run: string,
  after: number,
  limit: number,
  waitMs: number,
  signal: AbortSignal,
): Promise<unknown[]> {
  const runs = ctx.ops.backend.runs
  const first = await runs.readInbox(run, after, limit)
  if (first.length > 0 || waitMs === 0 || signal.aborted) return first
  let wake!: () => void
  const woken = new Promise<void>((r) => (wake = r))
  const unwatch = await runs.watchInbox(run, { onMessages: () => wake() })
  const timer = setTimeout(() => wake(), waitMs)
  const onAbort = (): void => wake()
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    // A message that came between the read and the watch is caught by this second read.
    const again = await runs.readInbox(run, after, limit)
    if (again.length > 0) return again
    await woken
    return await runs.readInbox(run, after, limit)
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', onAbort)
    unwatch()
  }
}

/**
 * Answers one request: routing, CORS, error mapping and request metrics. Never throws.
 */
export async function handle(req: HubRequest, ctx: RouteContext): Promise<HubResponse> {
  const started = performance.now()
  let routeName = 'unmatched'
  let res: HubResponse
  try {
    const segs = segmentsOf(req.url.pathname, ctx.basePath)
    if (req.method === 'OPTIONS' && ctx.cors) {
      res = { status: 204, headers: { ...CORS_HEADERS } }
    } else {
      const m = segs === undefined ? undefined : match(segs)
      if (!m) throw new NotFoundError(`no route for ${req.method} ${req.url.pathname}`)
      routeName = m.def.name
      const fn = m.def.methods[req.method]
      if (!fn) throw new MethodNotAllowedError(req.method, Object.keys(m.def.methods))
      res = await fn(req, m.params, ctx)
    }
  } catch (err) {
    res = errorResponse(err)
    if (res.status >= 500 && res.status !== 503 && res.status !== 504) ctx.onError(err)
    if (err instanceof MethodNotAllowedError)
      res = { ...res, headers: { allow: err.allow.join(', ') } }
  }
  if (ctx.cors) res = { ...res, headers: { ...CORS_HEADERS, ...res.headers } }
  ctx.metrics.requests.inc({
    route: routeName,
    method: methodLabel(req.method),
    status: String(res.status),
  })
  if (!('start' in res))
    ctx.metrics.duration.observe({ route: routeName }, (performance.now() - started) / 1000)
  return res
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'])
function methodLabel(m: string): string {
  return METHODS.has(m) ? m : 'other'
}
