/**
 * `runbus serve`: one runbus instance (durable by default: PGlite in `--data`, default
 * `./.runbus`; `--memory`, `--redis URL`, `--postgres URL` pick the others), the hub on
 * `node:http` through `hub.node` (the benchmark's faster adapter), and the demo page's routes
 * beside it. Never open by accident: without a secret it makes one and prints an admin
 * token and a clickable demo URL; `--insecure` opens it and says so loudly on every start.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve as resolvePath } from 'node:path'
import type { Backend } from '../contract/contract.js'
import { createRunbus } from '../runbus.js'
import { createHub, signToken } from '../hub/index.js'
import type { HubLimits } from '../hub/limits.js'
import { toRequest, writeResponse } from '../hub/bridge.js'
import { createWebRoutes } from './web-routes.js'

/** Options of {@link startServe}. */
export interface ServeOptions {
  port: number
  host: string
  /** Redis URL. */
  redis?: string
  /** Postgres URL. */
  postgres?: string
  /** PGlite data directory (the default backend; default `./.runbus`). */
  data?: string
  /** Keep everything in memory. */
  memory?: boolean
  /** Redis key prefix (default `runbus`). */
  prefix?: string
  /** Postgres/PGlite schema (default `runbus`). */
  schema?: string
  /** HS256 secret (at least 16 characters). */
  secret?: string
  insecure?: boolean
  /** The hub's connection caps and timeouts (`createHub({ limits })`). */
  limits?: HubLimits
  /** The bearer token `GET /metrics` requires (`createHub({ metricsToken })`). */
  metricsToken?: string
  /** Where to print. */
  out: (line: string) => void
  err: (line: string) => void
}

/** A running `runbus serve`. */
export interface Serving {
  url: string
  /** Stops accepting, ends every stream, closes runbus and the backend. Idempotent. */
  close(): Promise<void>
}

/**
 * The backend `serve` runs on: exactly one of `--memory`, `--redis`, `--postgres`, `--data`
 * (none: PGlite in `./.runbus`). Resolves once it answers, with a line saying what and where.
 */
async function openBackend(opts: ServeOptions): Promise<{ backend?: Backend; where: string }> {
  const picked = [
    opts.memory === true ? '--memory' : undefined,
    opts.redis !== undefined ? '--redis' : undefined,
    opts.postgres !== undefined ? '--postgres' : undefined,
    opts.data !== undefined ? '--data' : undefined,
  ].filter((x) => x !== undefined)
  if (picked.length > 1) throw new Error(`give one of ${picked.join(', ')}, not several`)
  if (opts.memory === true) return { where: 'memory (nothing survives a restart)' }
  if (opts.redis !== undefined) {
    const { redisBackend } = await import('../backends/redis/index.js')
    const backend = redisBackend({
      url: opts.redis,
      ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
    })
    await backend.ping()
    return { backend, where: `redis at ${redactUrl(opts.redis)}` }
  }
  const { postgresBackend } = await import('../backends/postgres/index.js')
  const schema = opts.schema !== undefined ? { schema: opts.schema } : {}
  if (opts.postgres !== undefined) {
    const backend = postgresBackend({ url: opts.postgres, ...schema })
    await backend.ping()
    return { backend, where: `postgres at ${redactUrl(opts.postgres)}` }
  }
  const dir = resolvePath(opts.data ?? '.runbus')
  mkdirSync(dir, { recursive: true })
  const backend = postgresBackend({ pglite: dir, ...schema })
  try {
    await backend.ping()
  } catch (err) {
    await backend.close()
    throw new Error(
      `cannot open the PGlite data directory ${dir} (is another runbus serve using it?): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    )
  }
  return { backend, where: `pglite, data in ${dir}` }
}

/** A URL without its password, for printing. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(the given URL)'
  }
}

const HUB_PATH = /^\/(v1\/|api\/event\/|healthz$|metrics$|healthz\?|metrics\?)/

function isHubPath(url: string | undefined): boolean {
  return url !== undefined && HUB_PATH.test(url)
}

/** Starts the hub and the demo page; resolves once it listens. */
export async function startServe(opts: ServeOptions): Promise<Serving> {
  if (opts.insecure && opts.secret !== undefined) {
    throw new Error('give either --secret (or RUNBUS_SECRET) or --insecure, not both')
  }
  if (opts.secret !== undefined && opts.secret.length < 16) {
    throw new Error('the secret must be at least 16 characters long')
  }
  const { backend, where } = await openBackend(opts)
  const rb = createRunbus(backend ? { backend } : {})
  const generated = !opts.insecure && opts.secret === undefined
  const secret = opts.insecure ? undefined : (opts.secret ?? randomBytes(32).toString('base64url'))
  const limits = opts.limits ?? {}
  const hub = createHub({
    runbus: rb,
    ...(secret !== undefined ? { secret } : { insecure: true }),
    limits,
    ...(opts.metricsToken !== undefined ? { metricsToken: opts.metricsToken } : {}),
  })
  const stop = new AbortController()
  // Set once the port is known (the demo agent needs this hub's own URL).
  const routes: { web?: (request: Request) => Promise<Response | undefined> } = {}

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const web = routes.web
    if (isHubPath(req.url) || !web) {
      hub.node(req, res)
      return
    }
    let request: Request
    try {
      request = toRequest(req, res)
    } catch {
      hub.node(req, res)
      return
    }
    web(request)
      .then(async (response) => {
        if (response === undefined) hub.node(req, res)
        else await writeResponse(response, res)
      })
      .catch(() => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { code: 'internal', message: 'the page failed' } }))
        } else res.destroy()
      })
  }
  const server = createServer(hub.serverOptions, listener)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const hostForUrl = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `http://${hostForUrl === '0.0.0.0' || hostForUrl === '[::]' ? '127.0.0.1' : hostForUrl}:${addr.port}`
  const agentToken =
    secret !== undefined
      ? await signToken(secret, {
          sub: 'demo-agent',
          scope: ['read', 'write', 'answer'],
          ttlSeconds: 30 * 86400,
        })
      : undefined
  const demoRuns = new Set<Promise<void>>()
  routes.web = createWebRoutes({
    onDemoRun: ({ done }) => {
      demoRuns.add(done)
      void done.finally(() => demoRuns.delete(done))
    },
    baseUrl: url,
    ...(agentToken ? { agentToken } : {}),
    ...(secret !== undefined ? { secret } : {}),
    signal: stop.signal,
  })

  opts.out(`runbus hub listening on ${url} (backend: ${where})`)
  if (opts.insecure) {
    const bar = '!'.repeat(78)
    opts.err(bar)
    opts.err('!!  INSECURE: runbus serve --insecure accepts every request WITHOUT A TOKEN.')
    opts.err(
      `!!  Anyone who can reach ${opts.host}:${addr.port} can read, write, answer and end every run.`,
    )
    opts.err('!!  Use it for local development only; give --secret or RUNBUS_SECRET otherwise.')
    opts.err(bar)
    opts.out(`demo page: ${url}/`)
  } else {
    if (generated) {
      // Only a secret of its own: nobody else can sign a token for this hub.
      const admin = await signToken(secret!, {
        sub: 'admin',
        scope: ['admin'],
        ttlSeconds: 7 * 86400,
      })
      opts.out(
        'No --secret or RUNBUS_SECRET given: made a random secret that lives until this hub stops.',
      )
      opts.out(`demo page: ${url}/#token=${admin}`)
      opts.out('admin token (7 days):')
      opts.out(admin)
    } else {
      opts.out(`demo page: ${url}/ (the page asks for a token: runbus token --scope admin)`)
    }
  }

  let closing: Promise<void> | undefined
  return {
    url,
    close() {
      closing ??= (async () => {
        // Demo agents stop first and end their runs while the hub still answers (bounded).
        stop.abort()
        if (demoRuns.size > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined
          await Promise.race([
            Promise.allSettled([...demoRuns]),
            new Promise((r) => (timer = setTimeout(r, 3000))),
          ])
          clearTimeout(timer)
        }
        const closed = new Promise<void>((r) => server.close(() => r()))
        await hub.close()
        server.closeAllConnections()
        await closed
        await rb.close()
        await backend?.close()
      })()
      return closing
    },
  }
}
