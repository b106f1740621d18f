/**
 * `createHub`: wires the routes, the run readers and bus streams, auth, metrics and the 15 s
 * keep-alive into one object with a Web `fetch` handler and a `node:http` listener. The hub
 * takes a runbus instance and acts only through its public API: the instance's limits,
 * budgets and retention apply to what HTTP callers do, and its followers are the hub's
 * readers (`rb.stats()` counts them, `rb.close()` ends them).
 */
import type { IncomingMessage, ServerOptions, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import { InvalidArgumentError } from '../events/errors.js'
import { checkOptions, type OptionSpec } from '../events/options.js'
import { TokenVerifier } from './auth.js'
import { BusFanout } from './bus-fanout.js'
import { CompatRoutes } from './compat.js'
import type { RouteContext } from './route.js'
import type { HubRequest, HubResponse } from './http.js'
import { HubMetrics, type CoreStats } from './metrics.js'
import { hubServerOptions, nodeListener } from './node.js'
import {
  ConnectionLimiter,
  resolveHubLimits,
  type ConnectionStats,
  type HubLimits,
} from './limits.js'
import { RunReaders } from './run-readers.js'
import type { Runbus } from '../runbus.js'
import { handle, Router } from './router.js'
import { ROUTES } from './routes/index.js'
import { webHandler } from './web.js'

/** Settings of a hub (everything but the runbus instance). */
export interface HubSettings {
  /**
   * The HS256 secret tokens are signed with (at least 16 bytes). Required unless
   * `insecure` is set: a hub never runs open by accident.
   */
  secret?: string | Uint8Array
  /** Accept every request without a token (local development only). */
  insecure?: boolean
  /** Mount prefix, e.g. `/runbus` when the hub answers under it (default: none). */
  basePath?: string
  /** Largest request body, in bytes (default 2 MiB); more is a 413. */
  maxBodyBytes?: number
  /**
   * Bytes a stream reader may leave unread before the hub cuts its connection (default
   * 1 MiB). The reader resumes from its last id.
   */
  maxQueuedBytes?: number
  /** Keep-alive comment period on streams, in ms (default 15 000). */
  pingIntervalMs?: number
  /** How long `POST /api/event/get` waits for an event, in ms (default 30 000). */
  compatWaitMs?: number
  /** Longest `GET /v1/asks/{ask}?wait=` long-poll, in seconds (default 60). */
  maxAskWaitSeconds?: number
  /** Lifetime of the run tokens `POST /v1/runs` returns, in seconds (default 24 h). */
  runTokenTtlSeconds?: number
  /** Answer CORS preflights and allow every origin (default true). */
  cors?: boolean
  /**
   * A bearer token `GET /metrics` requires (at least 16 characters). Default: none, the
   * endpoint is open (keep it behind your proxy then). `/healthz` stays open and says only
   * whether the backend answers.
   */
  metricsToken?: string
  /** Called with unexpected errors (those that became a 500). Default: `console.error`. */
  onError?: (err: unknown) => void
  /**
   * Connection caps (per token subject, per client address, in all: 429 with
   * `Retry-After` over them) and request timeouts. See docs/hub.md for the defaults.
   */
  limits?: HubLimits
}

/** Options of {@link createHub}. */
export interface HubOptions extends HubSettings {
  /**
   * The runbus instance the hub serves. Its limits, budgets and retention apply to runs
   * created and written over HTTP. The hub never closes it; closing it ends the hub's streams.
   */
  runbus: Runbus
  /** Work queues whose depth, redeliveries and dead letters `/metrics` reports. */
  workQueues?: readonly string[]
}

/** The options of `createHub`, with the kinds each accepts (checked up front). */
const OPTION_SPEC: OptionSpec = {
  runbus: 'object',
  workQueues: 'array',
  secret: ['string', 'object'],
  insecure: 'boolean',
  basePath: 'string',
  maxBodyBytes: 'number',
  maxQueuedBytes: 'number',
  pingIntervalMs: 'number',
  compatWaitMs: 'number',
  maxAskWaitSeconds: 'number',
  runTokenTtlSeconds: 'number',
  cors: 'boolean',
  onError: 'function',
  limits: 'object',
  metricsToken: 'string',
}

/** Counters of a hub, exact at every moment. */
export interface HubStats {
  /** Connections following runs. */
  readers: number
  /** Runs followed by at least one connection of this hub. */
  runFeeds: number
  /** Connections following bus channels. */
  busSubscribers: number
  /** Frames written to stream readers. */
  framesOut: number
  /** Readers cut for falling behind. */
  cuts: number
  /** Run streams that ended with an error frame (run reset or gone, backend failure). */
  failedStreams: number
}

/**
 * A running hub. Mount `fetch` in any Web-standard server, or `node` in `node:http`,
 * Express or Fastify; `close()` ends every stream it holds (not the runbus instance).
 */
export interface Hub {
  /** The Web-standard handler (a bound function: pass it around as is). */
  readonly fetch: (request: Request) => Promise<Response>
  /** The `node:http` listener: `http.createServer(hub.serverOptions, hub.node)`. */
  readonly node: (req: IncomingMessage, res: ServerResponse) => void
  /**
   * `node:http` server options with the hub's request timeouts (`headersTimeout`,
   * `requestTimeout` from `limits`): pass them to `http.createServer`.
   */
  readonly serverOptions: ServerOptions
  /** Open requests per cap and refusals (`limits`). */
  connections(): ConnectionStats
  /** Connections following `run` on this hub process. */
  readers(run: string): number
  /** Counters. */
  stats(): HubStats
  /** The hub's own Prometheus registry (also served at `/metrics`). */
  readonly registry: Registry
  /** Stops the keep-alive and ends every stream. Idempotent. */
  close(): Promise<void>
}

/**
 * Creates a hub over a runbus instance.
 *
 * Needs `secret` (HS256, at least 16 bytes) unless `insecure: true`; it never runs open by
 * accident. Unknown option names are refused (`InvalidArgumentError`). Gotchas: `close()`
 * ends the hub's streams but not the runbus instance nor your HTTP server; one hub per
 * server (its metrics registry is its own).
 *
 * @example
 * ```ts
 * const hub = createHub({ runbus: rb, secret })
 * Bun.serve({ fetch: hub.fetch })
 * ```
 */
export function createHub(options: HubOptions): Hub {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('createHub takes an options object')
  if ('runLimits' in options)
    throw new InvalidArgumentError(
      'unknown option "runLimits" of createHub: limits and retention now come from createRunbus',
    )
  checkOptions('createHub', options, OPTION_SPEC)
  const { runbus: rb, workQueues = [], ...settings } = options
  if (typeof rb !== 'object' || rb === null || typeof rb.runs?.follow !== 'function')
    throw new InvalidArgumentError('createHub needs { runbus } (a createRunbus() instance)')
  if (!Array.isArray(workQueues) || !workQueues.every((q) => typeof q === 'string'))
    throw new InvalidArgumentError('workQueues must be an array of queue names')
  if (settings.secret === undefined && settings.insecure !== true) {
    throw new InvalidArgumentError(
      'a hub needs a secret (or insecure: true, for local development only)',
    )
  }
  if (
    settings.metricsToken !== undefined &&
    (typeof settings.metricsToken !== 'string' || settings.metricsToken.length < 16)
  )
    throw new InvalidArgumentError('metricsToken must be a string of at least 16 characters')
  const limits = resolveHubLimits(settings.limits)
  const limiter = new ConnectionLimiter(limits)
  const maxQueuedBytes = settings.maxQueuedBytes ?? 1024 * 1024
  if (!(maxQueuedBytes >= 1024))
    throw new InvalidArgumentError('maxQueuedBytes must be at least 1024')
  const verifier =
    settings.insecure === true && settings.secret === undefined
      ? undefined
      : new TokenVerifier(settings.secret!)
  const readers = new RunReaders(rb, maxQueuedBytes)
  const bus = new BusFanout(rb, maxQueuedBytes)
  const metrics = new HubMetrics({
    readers: () => readers.total,
    runFeeds: () => readers.runs,
    busSubscribers: () => bus.subscribers,
    framesOut: () => readers.stats.framesOut + bus.stats.framesOut,
    cuts: () => readers.stats.cuts + bus.stats.cuts,
    refusals: () => {
      const s = rb.stats()
      const c = limiter.stats().refused
      return {
        run_bytes: s.runBytesRefused,
        inbox_bytes: s.inboxBytesRefused,
        quota: s.quotaRefused,
        runs_abandoned: s.runsAbandoned,
        connections_global: c.global,
        connections_address: c.address,
        connections_subject: c.subject,
      }
    },
    core: () => coreStats(rb, workQueues),
  })
  const onError =
    settings.onError ??
    ((err: unknown) => {
      console.error('runbus hub: unexpected error', err)
    })
  let basePath = settings.basePath ?? ''
  if (basePath.endsWith('/')) basePath = basePath.slice(0, -1)
  if (basePath !== '' && !basePath.startsWith('/')) basePath = '/' + basePath
  const ctx: RouteContext = {
    rb,
    readers,
    bus,
    metrics,
    compat: new CompatRoutes(rb, { waitMs: settings.compatWaitMs ?? 30_000 }),
    verifier,
    secret: verifier ? settings.secret : undefined,
    maxBodyBytes: settings.maxBodyBytes ?? 2 * 1024 * 1024,
    runTokenTtlSeconds: settings.runTokenTtlSeconds ?? 24 * 3600,
    basePath,
    cors: settings.cors ?? true,
    maxAskWaitSeconds: settings.maxAskWaitSeconds ?? 60,
    metricsToken: settings.metricsToken,
    limiter,
    onError,
  }
  const router = new Router(ROUTES)
  const route = (req: HubRequest): Promise<HubResponse> => handle(router, req, ctx)
  const ping = setInterval(() => {
    readers.ping()
    bus.ping()
  }, settings.pingIntervalMs ?? 15_000)
  ping.unref?.()
  let closed = false
  return {
    fetch: webHandler(route, maxQueuedBytes),
    node: nodeListener(route, maxQueuedBytes, onError, limiter),
    serverOptions: hubServerOptions(limits),
    connections: () => limiter.stats(),
    readers: (run) => readers.readers(run),
    stats: () => ({
      readers: readers.total,
      runFeeds: readers.runs,
      busSubscribers: bus.subscribers,
      framesOut: readers.stats.framesOut + bus.stats.framesOut,
      cuts: readers.stats.cuts + bus.stats.cuts,
      failedStreams: readers.stats.failed,
    }),
    registry: metrics.registry,
    async close() {
      if (closed) return
      closed = true
      clearInterval(ping)
      readers.close()
      bus.close()
    },
  }
}

/** What `/metrics` reads from the instance: its live counters, and the backend's truth. */
async function coreStats(rb: Runbus, workQueues: readonly string[]): Promise<CoreStats> {
  const s = rb.stats()
  const [running, pending] = await Promise.all([
    rb.runs.list({ status: 'running', limit: 1000 }),
    rb.asks.pending(),
  ])
  const out: CoreStats = {
    runs: running.length,
    subscribers: s.followers + s.subscriptions,
    queueDrops: s.followerOverflows + s.busDecodeErrors,
    asksPending: pending.length,
    inboxTrimmed: s.inboxTrimmed,
    gaps: s.gaps,
    emitFailures: s.emitFailures,
  }
  if (workQueues.length > 0) {
    let depth = 0
    let redeliveries = 0
    let dead = 0
    for (const q of workQueues) {
      const w = await rb.backend.work.stats(q)
      depth += w.waiting + w.delayed + w.inFlight
      redeliveries += w.redelivered
      dead += w.dead
    }
    out.workDepth = depth
    out.redeliveries = redeliveries
    out.deadLetters = dead
  }
  return out
}
