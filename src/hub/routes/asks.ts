/** Ask routes: a run's asks, one ask (with a long-poll `?wait=`), and answering it. */
import type { AskInfo, AskKind } from '../../asks/types.js'
import { AskNotFoundError, InvalidArgumentError } from '../../events/errors.js'
import type { Runbus } from '../../runbus.js'
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

/** Every ask of `run` (pending or decided), found through its `ask` events. */
async function allAsks(rb: Runbus, run: string): Promise<AskInfo[]> {
  const ids: string[] = []
  let after = 'start'
  for (;;) {
    const page = await rb.runs.read(run, { after, limit: 1000 })
    for (const e of page.events) {
      const d = e.data as { ask?: unknown } | null
      if (e.type === 'ask' && typeof d?.ask === 'string') ids.push(d.ask)
    }
    const last = page.events.at(-1)
    if (!last || page.events.length < 1000) break
    after = last.id
  }
  const out: AskInfo[] = []
  for (const id of ids) {
    try {
      out.push(await rb.asks.get(id))
    } catch (err) {
      if (!(err instanceof AskNotFoundError)) throw err
    }
  }
  return out
}

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
      await ctx.rb.runs.get(run)
      const asks =
        state === 'pending' ? await ctx.rb.asks.pending({ run }) : await allAsks(ctx.rb, run)
      return json(200, { asks })
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
      if (choices !== undefined && !choices.every((c) => typeof c === 'string'))
        throw new InvalidArgumentError('"choices" must be strings')
      const timeout = optNumber(b, 'timeout', 1, 7 * 24 * 3600 * 1000)
      // `rb.asks.create` holds nothing per ask in the hub: the ask is pending at once and its
      // timeout is armed in the core until it is decided.
      const ask = await ctx.rb.asks.create(params.run!, {
        kind: str(b, 'kind', 64) as AskKind,
        prompt: optText(b, 'prompt', 100_000) ?? '',
        ...(b.data !== undefined ? { data: b.data } : {}),
        ...(choices !== undefined ? { choices } : {}),
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
      const ask = await ctx.rb.asks.get(id)
      requireScope(claims, 'read', ask.run)
      if (waitS === 0 || ask.state !== 'pending') return json(200, ask)
      try {
        await ctx.rb.asks.wait(id, { timeout: waitS * 1000, signal: req.signal })
      } catch {
        // timed out, aborted or expired: the ask's state says which
      }
      return json(200, await ctx.rb.asks.get(id))
    },
  },
  {
    method: 'POST',
    path: '/v1/asks/:ask/answer',
    access: 'answer',
    handler: async ({ req, params, claims, ctx }) => {
      const id = params.ask!
      const b = objectBody(await body(req, ctx), ['answer', 'by', 'label'])
      if (!('answer' in b)) throw new InvalidArgumentError('"answer" is required')
      const ask = await ctx.rb.asks.get(id)
      requireScope(claims, 'answer', ask.run)
      // `by` is who the token says answered; what the caller writes is only its label
      // (`label`, or `by` as older clients send it).
      const label = optStr(b, 'label', 200) ?? optStr(b, 'by', 200)
      const answered = await ctx.rb.asks.answer(id, b.answer, {
        ...(claims.sub !== '' ? { by: claims.sub } : {}),
        ...(label !== undefined ? { label } : {}),
      })
      ctx.metrics.asksAnswered.inc()
      return json(200, answered)
    },
  },
]
