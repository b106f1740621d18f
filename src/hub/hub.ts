/**
 * `createHub`: wires the routes, the run and bus fan-outs, auth, metrics and the 15 s
 * keep-alive into one object with a Web `fetch` handler and a `node:http` listener.
 */
import type { IncomingMessage, ServerOptions, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import { InvalidArgumentError } from '../events/errors.js'
import { TokenVerifier } from './auth.js'
import { BusFanout } from './bus-fanout.js'
import { CompatRoutes } from './compat.js'
import type { RouteContext } from './route.js'
import { RunFanout } from './fanout.js'
import type { HubRequest, HubResponse } from './http.js'
import { HubMetrics } from './metrics.js'
import { hubServerOptions, nodeListener } from './node.js'
import {
  ConnectionLimiter,
  resolveHubLimits,
  type ConnectionStats,
  type HubLimits,
} from './limits.js'
import type { HubOps } from './ops.js'
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
  /** Events per page when a reader catches up (default 500). */
  pageSize?: number
  /** Called with unexpected errors (those that became a 500). Default: `console.error`. */
  onError?: (err: unknown) => void
  /**
   * Connection caps (per token subject, per client address, in all: 429 with
   * `Retry-After` over them) and request timeouts. See docs/hub.md for the defaults.
   */
  limits?: HubLimits
}

/** Counters of a hub, exact at every moment. */
export interface HubStats {
  /** Connections following runs. */
  readers: number
  /** Runs with a shared follower on this hub. */
  runFeeds: number
  /** Connections following bus channels. */
  busSubscribers: number
  /** Frames written to stream readers. */
  framesOut: number
  /** Readers cut for falling behind. */
  cuts: number
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

/** @internal Builds a hub over the narrow operations interface. */
export function createHubWithOps(ops: HubOps, settings: HubSettings): Hub {
  if (settings.secret === undefined && settings.insecure !== true) {
    throw new InvalidArgumentError(
      'a hub needs a secret (or insecure: true, for local development only)',
    )
  }
  const limits = resolveHubLimits(settings.limits)
  const limiter = new ConnectionLimiter(limits)
  const maxQueuedBytes = settings.maxQueuedBytes ?? 1024 * 1024
  if (!(maxQueuedBytes >= 1024))
    throw new InvalidArgumentError('maxQueuedBytes must be at least 1024')
  const verifier =
    settings.insecure === true && settings.secret === undefined
      ? undefined
      : new TokenVerifier(settings.secret!)
  const fanout = new RunFanout(ops.backend.runs, {
    maxQueuedBytes,
    ...(settings.pageSize !== undefined ? { pageSize: settings.pageSize } : {}),
  })
  const bus = new BusFanout(ops, maxQueuedBytes)
  const metrics = new HubMetrics({
    readers: () => fanout.totalReaders,
    runFeeds: () => fanout.feeds,
    busSubscribers: () => bus.subscribers,
    framesOut: () => fanout.stats.framesOut + bus.stats.framesOut,
    cuts: () => fanout.stats.cuts + bus.stats.cuts,
    core: () => ops.stats(),
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
    ops,
    fanout,
    bus,
    metrics,
    compat: new CompatRoutes(ops, { waitMs: settings.compatWaitMs ?? 30_000 }),
    verifier,
    secret: verifier ? settings.secret : undefined,
    maxBodyBytes: settings.maxBodyBytes ?? 2 * 1024 * 1024,
    runTokenTtlSeconds: settings.runTokenTtlSeconds ?? 24 * 3600,
    basePath,
    cors: settings.cors ?? true,
    maxAskWaitSeconds: settings.maxAskWaitSeconds ?? 60,
    onError,
  }
  const router = new Router(ROUTES)
  const route = (req: HubRequest): Promise<HubResponse> => handle(router, req, ctx)
  const ping = setInterval(() => {
    fanout.ping()
    bus.ping()
  }, settings.pingIntervalMs ?? 15_000)
  ping.unref?.()
  let closed = false
  return {
    fetch: webHandler(route, maxQueuedBytes),
    node: nodeListener(route, maxQueuedBytes, onError, limiter),
    serverOptions: hubServerOptions(limits),
    connections: () => limiter.stats(),
    readers: (run) => fanout.readers(run),
    stats: () => ({
      readers: fanout.totalReaders,
      runFeeds: fanout.feeds,
      busSubscribers: bus.subscribers,
      framesOut: fanout.stats.framesOut + bus.stats.framesOut,
      cuts: fanout.stats.cuts + bus.stats.cuts,
    }),
    registry: metrics.registry,
    async close() {
      if (closed) return
      closed = true
      clearInterval(ping)
      fanout.close()
      bus.close()
    },
  }
}
