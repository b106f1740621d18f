/**
 * `runbus serve`: one runbus instance (memory, or Redis with `--redis`), the hub on
 * `node:http` through `hub.node` (the benchmark's faster adapter), and the demo page's routes
 * beside it. Never open by accident: without a secret it makes one and prints an admin
 * token and a clickable demo URL; `--insecure` opens it and says so loudly on every start.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
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
  /** Redis URL; memory when absent. */
  redis?: string
  /** Redis key prefix (default `runbus`). */
  prefix?: string
  /** HS256 secret (at least 16 characters). */
  secret?: string
  insecure?: boolean
  /** The hub's connection caps and timeouts (`createHub({ limits })`). */
  limits?: HubLimits
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
  let backend: Backend | undefined
  if (opts.redis !== undefined) {
    const { redisBackend } = await import('../backends/redis/index.js')
    backend = redisBackend({
      url: opts.redis,
      ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
    })
    await backend.ping()
  }
  const rb = createRunbus(backend ? { backend } : {})
  const generated = !opts.insecure && opts.secret === undefined
  const secret = opts.insecure ? undefined : (opts.secret ?? randomBytes(32).toString('base64url'))
  const limits = opts.limits ?? {}
  const hub = createHub(
    secret !== undefined ? { runbus: rb, secret, limits } : { runbus: rb, insecure: true, limits },
  )
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
    signal: stop.signal,
  })

  opts.out(`runbus hub listening on ${url} (backend: ${rb.backend.name})`)
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
