/**
 * `runbus/hub`: the HTTP/SSE hub of PROTOCOL.md over a runbus instance.
 *
 * Mount `hub.fetch` in any Web-standard server (Hono, Next.js route handlers, Bun, Deno),
 * or `hub.node` in `node:http`, Express or Fastify. `runbus serve` is `hub.node` on
 * `http.createServer`, plus the demo page.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { createRunbus } from 'runbus'
 * import { createHub, signToken } from 'runbus/hub'
 *
 * const rb = createRunbus()
 * const hub = createHub({ runbus: rb, secret: process.env.RUNBUS_SECRET })
 * createServer(hub.node).listen(8787)
 * const token = await signToken(process.env.RUNBUS_SECRET!, { scope: ['read'] })
 * ```
 */
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../events/codec.js'
import type { Runbus } from '../runbus.js'
import { createHubWithOps, type Hub, type HubSettings } from './hub.js'
import { runbusOps } from './runbus-ops.js'

export type { Hub, HubSettings, HubStats } from './hub.js'
export {
  signToken,
  parseScopes,
  TokenVerifier,
  hasScope,
  allowsRun,
  SCOPES,
  type Scope,
  type TokenClaims,
  type TokenRequest,
} from './auth.js'
export {
  MethodNotAllowedError,
  HTTP_STATUS,
  statusOfCode,
  errorBody,
  type ErrorBody,
  type HttpStatus,
  type WireError,
} from '../protocol/errors.js'

/** Options of {@link createHub}. */
export interface HubOptions extends HubSettings {
  /** The runbus instance the hub serves. The hub never closes it. */
  runbus: Runbus
  /**
   * Limits for runs created and written over HTTP. Give the values you gave
   * `createRunbus` (defaults are the same as its defaults).
   */
  runLimits?: {
    /** Largest encoded event payload, bytes (default 1 MiB). */
    maxPayloadBytes?: number
    /** Events kept per run (default 10,000). */
    maxEvents?: number
    /** How long an ended run stays readable, ms (default 1 hour). */
    ttlMs?: number
  }
  /** Work queues whose depth, redeliveries and dead letters `/metrics` reports. */
  workQueues?: readonly string[]
}

/**
 * Creates a hub over a runbus instance.
 *
 * Needs `secret` (HS256, at least 16 bytes) unless `insecure: true`; it never runs open by
 * accident. Gotchas: `close()` ends the hub's streams but not the runbus instance nor your
 * HTTP server; one hub per server (its metrics registry is its own).
 *
 * @example
 * ```ts
 * const hub = createHub({ runbus: rb, secret })
 * Bun.serve({ fetch: hub.fetch })
 * ```
 */
export function createHub(options: HubOptions): Hub {
  const { runbus, runLimits, workQueues, ...settings } = options
  const limits = {
    maxPayloadBytes: runLimits?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    maxEvents: runLimits?.maxEvents ?? 10_000,
    ttlMs: runLimits?.ttlMs ?? 3_600_000,
  }
  return createHubWithOps(runbusOps(runbus, limits, workQueues), settings)
}
