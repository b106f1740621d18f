/** Operations routes: `GET /healthz` and `GET /metrics` (no token). */
import { timingSafeEqual } from 'node:crypto'
import { UnauthorizedError } from '../../events/errors.js'
import { json } from '../http.js'
import type { Route } from '../route.js'

/** The operations routes. */
export const HEALTH_ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: '/healthz',
    access: 'public',
    handler: async ({ ctx }) => {
      try {
        await ctx.rb.backend.ping()
        return json(200, { ok: true, backend: ctx.rb.backend.name })
      } catch {
        // Generic on purpose: the backend's own error text (hosts, users) is not for strangers.
        return json(503, {
          error: { code: 'backend_unavailable', message: 'the backend did not answer' },
        })
      }
    },
  },
  {
    method: 'GET',
    path: '/metrics',
    access: 'public',
    handler: async ({ req, ctx }) => {
      if (ctx.metricsToken !== undefined) {
        const given = Buffer.from(
          /^Bearer (.+)$/i.exec(req.header('authorization') ?? '')?.[1] ?? '',
        )
        const want = Buffer.from(ctx.metricsToken)
        if (given.length !== want.length || !timingSafeEqual(given, want))
          throw new UnauthorizedError('/metrics needs the metrics token (Authorization: Bearer …)')
      }
      const { body, contentType } = await ctx.metrics.text()
      return { status: 200, text: { body, contentType } }
    },
  },
]
