/**
 * What a route is: one row of the hub's table (`src/hub/routes/*.ts`). The router
 * (`router.ts`) and the metric route labels are derived from these rows; nothing else lists
 * the routes.
 */
import type { Scope, TokenClaims, TokenVerifier } from './auth.js'
import type { BusFanout } from './bus-fanout.js'
import type { CompatRoutes } from './compat.js'
import type { HubRequest, HubResponse } from './http.js'
import type { HubMetrics } from './metrics.js'
import type { ConnectionLimiter } from './limits.js'
import type { RunReaders } from './run-readers.js'
import type { Runbus } from '../runbus.js'

/** The path parameters a template may name, each checked by the router before the handler. */
export interface RouteParams {
  /** `:run`, a run id (checked like `checkRunId`). */
  run?: string
  /** `:ask`, an ask id. */
  ask?: string
  /** `:channel`, a bus channel name. */
  channel?: string
  /** `:pattern`, a bus channel pattern. */
  pattern?: string
}

/**
 * Who may call a route:
 * - `public`: no token (health and metrics);
 * - a scope: a token with that scope; when the path names `:run`, a token covering that run
 *   (handlers of routes whose run is found later, an ask's or a body's, check it then);
 * - `{ scope, allRuns: true }`: a token with the scope for every run (`runs: "*"`): bus
 *   channels are not runs.
 */
export type RouteAccess = 'public' | Scope | { readonly scope: Scope; readonly allRuns: true }

/** What a handler gets. */
export interface RouteCall {
  readonly req: HubRequest
  readonly params: RouteParams
  /** The caller's verified claims (the open ones on an insecure hub, or on a public route). */
  readonly claims: TokenClaims
  readonly ctx: RouteContext
}

/** One route of the protocol. */
export interface Route {
  readonly method: 'GET' | 'POST'
  /** The path template, e.g. `/v1/runs/:run/events`; also the `route` label of metrics. */
  readonly path: string
  readonly access: RouteAccess
  readonly handler: (call: RouteCall) => Promise<HubResponse>
}

/** What the routes are wired to. */
export interface RouteContext {
  /** The runbus instance the hub serves: every route acts through its public API. */
  readonly rb: Runbus
  readonly readers: RunReaders
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
  /** Longest `?wait=` on long polls, in seconds. */
  readonly maxAskWaitSeconds: number
  /** Counts open requests per token subject (the per-address and global caps are the adapter's). */
  readonly limiter?: ConnectionLimiter
  /** When set, `GET /metrics` needs `Authorization: Bearer <metricsToken>`. */
  readonly metricsToken?: string | undefined
  /** Called with errors that became 500s. */
  readonly onError: (err: unknown) => void
  /**
   * Runs before a matched route's auth and handler (limits, admission); throw a
   * `RunbusError` to refuse the request with its status.
   */
  readonly guard?: (req: HubRequest, route: Route) => void | Promise<void>
}
