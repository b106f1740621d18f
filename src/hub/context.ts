/** The small helpers several route areas share: bodies, stream positions and formats. */
import { parseEventId } from '../events/envelope.js'
import { InvalidArgumentError } from '../events/errors.js'
import type { StreamFormat } from '../protocol/framing.js'
import { checkDeclaredLength, readJson, type HubRequest } from './http.js'
import type { RouteContext } from './route.js'
import { queryFlag } from './validate.js'

/** The request's JSON body (`undefined` when empty), within the hub's size limit. */
export async function body(req: HubRequest, ctx: RouteContext): Promise<unknown> {
  checkDeclaredLength(req.header('content-length'), ctx.maxBodyBytes)
  return readJson(req, ctx.maxBodyBytes)
}

/**
 * Where a follower starts: `Last-Event-ID`, else `?after` (an event id, checked here and
 * handed on whole: it names the run's incarnation), else the start; `?live=1` from now.
 */
export function startOf(req: HubRequest): { after: string; explicit: boolean } {
  const header = req.header('last-event-id')
  const query = req.url.searchParams.get('after')
  const raw =
    header !== undefined && header !== ''
      ? header
      : query !== null && query !== ''
        ? query
        : undefined
  if (raw !== undefined) {
    const id = raw.trim()
    const pos = parseEventId(id)
    if (pos === undefined)
      throw new InvalidArgumentError(`${JSON.stringify(raw)} is not an event id`)
    // '0' (and '0.<tag>') is before the first event: the start, announced with its gap.
    return { after: id, explicit: true }
  }
  if (queryFlag(req.url, 'live')) return { after: 'now', explicit: false }
  return { after: 'start', explicit: false }
}

/** `?format=`: `sse` (the default) or `ndjson`. */
export function formatOf(req: HubRequest): StreamFormat {
  const f = req.url.searchParams.get('format')
  if (f === null || f === '' || f === 'sse') return 'sse'
  if (f === 'ndjson') return 'ndjson'
  throw new InvalidArgumentError('?format must be sse or ndjson')
}
