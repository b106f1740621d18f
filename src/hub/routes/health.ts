/** Operations routes: `GET /healthz` and `GET /metrics` (no token). */
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
  {
    method: 'GET',
    path: '/metrics',
    access: 'public',
    handler: async ({ ctx }) => {
      const { body, contentType } = await ctx.metrics.text()
      return { status: 200, text: { body, contentType } }
    },
  },
]
