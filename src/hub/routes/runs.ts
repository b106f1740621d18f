/** Run routes: create, list, read, append, follow (SSE/NDJSON), end, and the inbox. */
import { RESERVED_TYPES, seqOfId, type RunStatus } from '../../events/envelope.js'
import { ForbiddenError, InvalidArgumentError, RunNotFoundError } from '../../events/errors.js'
import type { RunSummary } from '../../agent/runs.js'
import { checkRunId } from '../../events/ids.js'
import { CONTENT_TYPE } from '../../protocol/framing.js'
import { runWire, type CreatedRunWire } from '../../protocol/wire.js'
import { signToken } from '../auth.js'
import { body, formatOf, startOf } from '../context.js'
import { STREAM_HEADERS, json } from '../http.js'
import type { Route } from '../route.js'
import { eventType, objectBody, oneOf, optObject, optText, queryInt, str } from '../validate.js'

const RUN_STATUSES: readonly RunStatus[] = ['running', 'completed', 'failed', 'cancelled']
const END_STATUSES = ['completed', 'failed', 'cancelled'] as const

/** The run routes. */
export const RUN_ROUTES: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/runs',
    access: 'write',
    handler: async ({ req, claims, ctx }) => {
      const raw = await body(req, ctx)
      const b = raw === undefined ? {} : objectBody(raw, ['id', 'meta'])
      const id = b.id === undefined ? undefined : checkRunId(b.id)
      if (claims.runs !== '*' && (id === undefined || !claims.runs.includes(id))) {
        throw new ForbiddenError('this token may only create the runs it names (give their "id")')
      }
      const meta = optObject(b, 'meta')
      // Created through the instance: the size check of `meta`, retention, and the running
      // runs quota of the token's subject (`limits.maxRunningRunsPerOwner`) apply.
      const info = await ctx.rb.runs.add({
        ...(id !== undefined ? { id } : {}),
        ...(meta !== undefined ? { meta } : {}),
        ...(claims.sub !== '' ? { owner: claims.sub } : {}),
      })
      ctx.metrics.runsCreated.inc()
      const out: CreatedRunWire = { run: runWire(info, 0) }
      if (ctx.secret !== undefined) {
        const ttlSeconds = ctx.runTokenTtlSeconds
        out.tokens = {
          read: await signToken(ctx.secret, {
            sub: `run-reader:${info.id}`,
            runs: [info.id],
            scope: ['read'],
            ttlSeconds,
          }),
          answer: await signToken(ctx.secret, {
            sub: `run-answerer:${info.id}`,
            runs: [info.id],
            scope: ['read', 'answer'],
            ttlSeconds,
          }),
        }
      }
      return json(201, out)
    },
  },
  {
    method: 'GET',
    path: '/v1/runs',
    access: 'read',
    handler: async ({ req, claims, ctx }) => {
      const s = req.url.searchParams.get('status')
      let status: RunStatus | undefined
      if (s !== null && s !== '') {
        if (!(RUN_STATUSES as readonly string[]).includes(s)) {
          throw new InvalidArgumentError(`?status must be one of ${RUN_STATUSES.join(', ')}`)
        }
        status = s as RunStatus
      }
      const limit = queryInt(req.url, 'limit', 100, 1, 1000)
      let runs: RunSummary[]
      if (claims.runs === '*') {
        runs = await ctx.rb.runs.list(status === undefined ? { limit } : { status, limit })
      } else {
        // A run-scoped token lists its own runs, looked up by id: filtering a page of the
        // newest runs would hide them behind `limit` newer ones of other callers.
        runs = []
        for (const id of claims.runs) {
          try {
            const r = await ctx.rb.runs.get(id)
            if (status === undefined || r.status === status) runs.push(r)
          } catch (err) {
            if (!(err instanceof RunNotFoundError)) throw err
          }
        }
        runs.sort((a, b) => b.createdAt - a.createdAt)
        runs = runs.slice(0, limit)
      }
      return json(200, { runs: runs.map((r) => runWire(r, ctx.readers.readers(r.id))) })
    },
  },
  {
    method: 'GET',
    path: '/v1/runs/:run',
    access: 'read',
    handler: async ({ params, ctx }) => {
      const run = params.run!
      const info = await ctx.rb.runs.get(run)
      return json(200, runWire(info, ctx.readers.readers(run)))
    },
  },
  {
    method: 'POST',
    path: '/v1/runs/:run/events',
    access: 'write',
    handler: async ({ req, params, ctx }) => {
      const raw = await body(req, ctx)
      const list = Array.isArray(raw) ? raw : [raw]
      if (list.length === 0) throw new InvalidArgumentError('no events given')
      if (list.length > 1000) throw new InvalidArgumentError('at most 1000 events per request')
      const drafts = list.map((item, i) => {
        const o = objectBody(item, ['type', 'data'], Array.isArray(raw) ? `event ${i}` : 'body')
        return { type: eventType(o, RESERVED_TYPES), data: o.data === undefined ? null : o.data }
      })
      const events = await ctx.rb.runs.append(params.run!, drafts)
      ctx.metrics.eventsIn.inc(events.length)
      return json(201, { ids: events.map((e) => e.id) })
    },
  },
  {
    method: 'GET',
    path: '/v1/runs/:run/events',
    access: 'read',
    handler: async ({ req, params, ctx }) => {
      const run = params.run!
      const format = formatOf(req)
      const start = startOf(req)
      // A missing run is a 404, not a stream (the cursor's watch alone does not tell on every
      // backend). The cursor's position is fixed before the response starts: once a client
      // sees the stream open, whatever is appended reaches it.
      await ctx.rb.runs.get(run)
      const follower = await ctx.readers.open(run, start, req.signal)
      return {
        status: 200,
        contentType: CONTENT_TYPE[format],
        headers: STREAM_HEADERS,
        start: (sink) => ctx.readers.attach(follower, sink, format, start),
        cancel: () => follower.close(),
      }
    },
  },
  {
    method: 'POST',
    path: '/v1/runs/:run/end',
    access: 'write',
    handler: async ({ req, params, ctx }) => {
      const b = objectBody(await body(req, ctx), ['status', 'error'])
      const status = oneOf(b, 'status', END_STATUSES)
      const error = optText(b, 'error', 10_000)
      const ev = await ctx.rb.runs.end(
        params.run!,
        error === undefined ? { status } : { status, error },
      )
      return json(200, { id: ev.id, status })
    },
  },
  {
    method: 'GET',
    path: '/v1/runs/:run/inbox',
    access: 'write',
    handler: async ({ req, params, ctx }) => {
      const run = params.run!
      const raw = req.url.searchParams.get('after')
      if (raw !== null && raw !== '' && seqOfId(raw) === undefined)
        throw new InvalidArgumentError(`${JSON.stringify(raw)} is not an inbox message id`)
      const limit = queryInt(req.url, 'limit', 100, 1, 1000)
      const waitS = queryInt(req.url, 'wait', 0, 0, ctx.maxAskWaitSeconds)
      await ctx.rb.runs.get(run)
      const messages = await ctx.rb.runs.readInbox(run, {
        ...(raw !== null && raw !== '' ? { after: raw } : {}),
        limit,
        wait: waitS * 1000,
        signal: req.signal,
      })
      return json(200, { messages })
    },
  },
  {
    method: 'POST',
    path: '/v1/runs/:run/inbox',
    access: 'answer',
    handler: async ({ req, params, ctx }) => {
      const b = objectBody(await body(req, ctx), ['type', 'data'])
      const msg = await ctx.rb.runs.send(params.run!, {
        type: str(b, 'type'),
        data: b.data === undefined ? null : b.data,
      })
      return json(202, { id: msg.id, seq: msg.seq })
    },
  },
]
