/**
 * The polling routes of `seeds/000` (see `../compat.ts`): the run is the body's
 * `request_id`, so the scope on it is checked once the body is read.
 */
import { InvalidArgumentError } from '../../events/errors.js'
import { checkRunId } from '../../events/ids.js'
import { requireScope } from '../auth.js'
import { body } from '../context.js'
import type { Route } from '../route.js'
import { objectBody } from '../validate.js'

/** The compatibility routes. */
export const COMPAT_ROUTES: readonly Route[] = [
  {
    method: 'POST',
    path: '/api/event/get',
    access: 'read',
    handler: async ({ req, claims, ctx }) => {
      const b = objectBody(await body(req, ctx), ['request_id'])
      const run = checkRunId(b.request_id)
      requireScope(claims, 'read', run)
      return ctx.compat.get(run, claims.sub, req.signal)
    },
  },
  {
    method: 'POST',
    path: '/api/event/response',
    access: 'answer',
    handler: async ({ req, claims, ctx }) => {
      const b = objectBody(await body(req, ctx), ['request_id', 'event', 'response'])
      const run = checkRunId(b.request_id)
      requireScope(claims, 'answer', run)
      if (!('response' in b)) throw new InvalidArgumentError('"response" is required')
      return ctx.compat.respond(run, b.event, b.response, claims.sub || undefined)
    },
  },
]
