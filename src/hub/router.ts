/**
 * The router, derived from the route table (`routes/index.ts`): matches a path against the
 * templates, checks the path parameters and the caller's token, runs the handler, maps
 * errors and counts the request under its template.
 *
 * Invariant: whatever arrives, the answer is a success or the protocol's JSON error with a
 * 4xx status; only a bug of ours becomes a 500.
 */
import { InvalidArgumentError, NotFoundError, UnauthorizedError } from '../events/errors.js'
import { ForbiddenError } from '../events/errors.js'
import { checkRunId } from '../events/ids.js'
import { checkChannel, checkPattern } from '../contract/patterns.js'
import { MethodNotAllowedError } from '../protocol/errors.js'
import { OPEN_CLAIMS, requireScope, tokenOf, type TokenClaims } from './auth.js'
import type { Route, RouteAccess, RouteContext, RouteParams } from './route.js'
import { CORS_HEADERS, errorResponse, isStream, type HubRequest, type HubResponse } from './http.js'
import { ConnectionLimitError } from './limits.js'

type ParamName = keyof RouteParams

/** How each path parameter is checked (a bad one is a 400, before the token is looked at). */
const PARAM_CHECKS: Readonly<Record<ParamName, (raw: string) => string>> = {
  run: (raw) => checkRunId(raw),
  ask: (raw) => {
    if (raw.length === 0 || raw.length > 200) throw new InvalidArgumentError('bad ask id')
    return raw
  },
  channel: (raw) => checkChannel(raw),
  pattern: (raw) => checkPattern(raw),
}

/** One path template, compiled: literal segments, or a parameter name. */
interface Template {
  readonly path: string
  readonly segments: ReadonlyArray<{ literal: string } | { param: ParamName }>
  /** The template's routes by method. */
  readonly methods: Map<string, Route>
}

/** A matched route, or the methods the path does answer. */
export type Match =
  | { route: Route; params: RouteParams }
  | { route: undefined; path: string; allow: readonly string[] }

/** The routes of a table, compiled for matching. */
export class Router {
  /** Templates by segment count. */
  readonly #bySize = new Map<number, Template[]>()
  /** Every template, in table order (the metric route labels). */
  readonly paths: readonly string[]

  constructor(routes: readonly Route[]) {
    const byPath = new Map<string, Template>()
    for (const route of routes) {
      let t = byPath.get(route.path)
      if (!t) {
        t = { path: route.path, segments: compile(route.path), methods: new Map() }
        byPath.set(route.path, t)
        const list = this.#bySize.get(t.segments.length) ?? []
        list.push(t)
        this.#bySize.set(t.segments.length, list)
      }
      if (t.methods.has(route.method))
        throw new Error(`route ${route.method} ${route.path} is in the table twice`)
      t.methods.set(route.method, route)
    }
    this.paths = [...byPath.keys()]
  }

  /** Finds the route for `method` and the decoded path segments; undefined when no template matches. */
  match(method: string, segs: readonly string[]): Match | undefined {
    for (const t of this.#bySize.get(segs.length) ?? []) {
      const raw: Partial<Record<ParamName, string>> = {}
      let ok = true
      for (let i = 0; i < segs.length; i++) {
        const s = t.segments[i]
        if ('literal' in s) {
          if (s.literal !== segs[i]) {
            ok = false
            break
          }
        } else raw[s.param] = segs[i]
      }
      if (!ok) continue
      const route = t.methods.get(method)
      if (!route) return { route: undefined, path: t.path, allow: [...t.methods.keys()] }
      const params: RouteParams = {}
      for (const [name, value] of Object.entries(raw) as Array<[ParamName, string]>)
        params[name] = PARAM_CHECKS[name](value)
      return { route, params }
    }
    return undefined
  }
}

function compile(path: string): Template['segments'] {
  return path
    .split('/')
    .slice(1)
    .map((s) => {
      if (!s.startsWith(':')) return { literal: s }
      const name = s.slice(1)
      if (!Object.hasOwn(PARAM_CHECKS, name)) throw new Error(`unknown route parameter :${name}`)
      return { param: name as ParamName }
    })
}

/** Splits and decodes a path (after the mount prefix). Malformed escapes are a 400. */
export function segmentsOf(pathname: string, basePath: string): string[] | undefined {
  let path = pathname
  if (basePath !== '') {
    if (path !== basePath && !path.startsWith(basePath + '/')) return undefined
    path = path.slice(basePath.length)
  }
  const raw = path.split('/').filter((s, i) => !(i === 0 && s === ''))
  if (raw.length > 1 && raw.at(-1) === '') raw.pop()
  return raw.map((s) => {
    try {
      return decodeURIComponent(s)
    } catch {
      throw new InvalidArgumentError('the path has a malformed %-escape')
    }
  })
}

/** The caller's claims for a route's access rule (401 without a valid token, 403 without the scope). */
async function authorize(
  req: HubRequest,
  access: RouteAccess,
  params: RouteParams,
  ctx: RouteContext,
): Promise<TokenClaims> {
  if (access === 'public' || !ctx.verifier) return OPEN_CLAIMS
  const token = tokenOf(req.header('authorization'), req.url)
  if (token === undefined)
    throw new UnauthorizedError('a token is required (Authorization: Bearer … or ?token=)')
  const claims = await ctx.verifier.verify(token)
  if (typeof access === 'string') requireScope(claims, access, params.run)
  else {
    requireScope(claims, access.scope)
    if (claims.runs !== '*')
      throw new ForbiddenError('bus channels need a token for every run (runs: "*")')
  }
  return claims
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'])
function methodLabel(m: string): string {
  return METHODS.has(m) ? m : 'other'
}

/** `res` with `release` called once it is done: at once, or when its stream closes. */
function holdUntilDone(res: HubResponse, release: () => void): HubResponse {
  if (!isStream(res)) {
    release()
    return res
  }
  return {
    ...res,
    start(sink) {
      sink.onClose(release)
      res.start(sink)
    },
    cancel() {
      release()
      res.cancel?.()
    },
  }
}

/**
 * Answers one request: routing, the pre-route guard, auth, CORS, error mapping and request
 * metrics. Never throws.
 */
export async function handle(
  router: Router,
  req: HubRequest,
  ctx: RouteContext,
): Promise<HubResponse> {
  const started = performance.now()
  let routeName = 'unmatched'
  let res: HubResponse
  try {
    if (req.method === 'OPTIONS' && ctx.cors) {
      res = { status: 204, headers: { ...CORS_HEADERS } }
    } else {
      const segs = segmentsOf(req.url.pathname, ctx.basePath)
      const m = segs === undefined ? undefined : router.match(req.method, segs)
      if (!m) throw new NotFoundError(`no route for ${req.method} ${req.url.pathname}`)
      if (m.route === undefined) {
        routeName = m.path
        throw new MethodNotAllowedError(req.method, m.allow)
      }
      const route = m.route
      routeName = route.path
      if (ctx.guard) await ctx.guard(req, route)
      const claims = await authorize(req, route.access, m.params, ctx)
      // One slot per open request of the token's subject, held by a stream until it closes.
      const release =
        route.access !== 'public' && ctx.verifier !== undefined && ctx.limiter !== undefined
          ? ctx.limiter.acquireSubject(claims.sub)
          : undefined
      try {
        res = await route.handler({ req, params: m.params, claims, ctx })
      } catch (err) {
        release?.()
        throw err
      }
      if (release !== undefined) res = holdUntilDone(res, release)
    }
  } catch (err) {
    res = errorResponse(err)
    if (res.status >= 500 && res.status !== 503 && res.status !== 504) ctx.onError(err)
    if (err instanceof MethodNotAllowedError)
      res = { ...res, headers: { allow: err.allow.join(', ') } }
    if (err instanceof ConnectionLimitError)
      res = { ...res, headers: { 'retry-after': String(err.retryAfter) } }
  }
  if (ctx.cors) res = { ...res, headers: { ...CORS_HEADERS, ...res.headers } }
  ctx.metrics.requests.inc({
    route: routeName,
    method: methodLabel(req.method),
    status: String(res.status),
  })
  if (!('start' in res))
    ctx.metrics.duration.observe({ route: routeName }, (performance.now() - started) / 1000)
  return res
}
