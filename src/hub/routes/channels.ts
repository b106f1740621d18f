/** Bus routes: publish on a channel, and follow a pattern (SSE/NDJSON). Tokens for every run only. */
import { CONTENT_TYPE } from '../../protocol/framing.js'
import { body, formatOf } from '../context.js'
import { STREAM_HEADERS, json } from '../http.js'
import type { Route } from '../route.js'
import { objectBody } from '../validate.js'

/** The bus routes. */
export const CHANNEL_ROUTES: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/channels/:channel',
    access: { scope: 'write', allRuns: true },
    handler: async ({ req, params, ctx }) => {
      const b = objectBody(await body(req, ctx), ['data'])
      await ctx.rb.bus.publish(params.channel!, b.data === undefined ? null : b.data)
      ctx.metrics.published.inc()
      return json(202, { ok: true })
    },
  },
  {
    method: 'GET',
    path: '/v1/channels/:pattern/events',
    access: { scope: 'read', allRuns: true },
    handler: async ({ req, params, ctx }) => {
      const pattern = params.pattern!
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
]
