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
export { createHub } from './hub.js'
export type { Hub, HubOptions, HubSettings, HubStats } from './hub.js'
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
