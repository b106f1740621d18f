/** Ask routes: a run's asks, one ask (with a long-poll `?wait=`), and answering it. */
import { InvalidArgumentError } from '../../events/errors.js'
import { requireScope } from '../auth.js'
import { body } from '../context.js'
import { json } from '../http.js'
import type { Route } from '../route.js'
import {
  objectBody,
  optNumber,
  optStr,
  optText,
  queryInt,
  str,
  type JsonObject,
} from '../validate.js'

/** The ask routes. */
export const ASK_ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: '/v1/runs/:run/asks',
    access: 'read',
    handler: async ({ req, params, ctx }) => {
      const run = params.run!
      const state = req.url.searchParams.get('state')
      if (state !== null && state !== '' && state !== 'pending' && state !== 'all') {
        throw new InvalidArgumentError('?state must be pending or all')
      }
      await ctx.ops.getRun(run)
      return json(200, { asks: await ctx.ops.listAsks(run, state === 'pending') })
    },
  },
  {
    method: 'POST',
    path: '/v1/runs/:run/asks',
    access: 'write',
    handler: async ({ req, params, ctx }) => {
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
      const ask = await ctx.ops.createAsk(params.run!, {
        kind: str(b, 'kind', 64),
        prompt: optText(b, 'prompt', 100_000) ?? '',
        ...(b.data !== undefined ? { data: b.data } : {}),
        ...(choices !== undefined ? { choices: choices as unknown[] } : {}),
        ...(timeout !== undefined ? { timeout } : {}),
      })
      return json(201, ask)
    },
  },
  {
    method: 'GET',
    path: '/v1/asks/:ask',
    access: 'read',
    handler: async ({ req, params, claims, ctx }) => {
      const id = params.ask!
      const waitS = queryInt(req.url, 'wait', 0, 0, ctx.maxAskWaitSeconds)
      const ask = await ctx.ops.getAsk(id)
      requireScope(claims, 'read', ask.run)
      if (waitS === 0 || ask.state !== 'pending') return json(200, ask)
      return json(200, await ctx.ops.waitAsk(id, waitS * 1000, req.signal))
    },
  },
  {
    method: 'POST',
    path: '/v1/asks/:ask/answer',
    access: 'answer',
    handler: async ({ req, params, claims, ctx }) => {
      const id = params.ask!
      const b = objectBody(await body(req, ctx), ['answer', 'by'])
      if (!('answer' in b)) throw new InvalidArgumentError('"answer" is required')
      const ask = await ctx.ops.getAsk(id)
      requireScope(claims, 'answer', ask.run)
      const by = optStr(b, 'by', 200) ?? (claims.sub || undefined)
      const answered = await ctx.ops.answer(id, b.answer, by)
      ctx.metrics.asksAnswered.inc()
      return json(200, answered)
    },
  },
]
