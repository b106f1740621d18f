/**
 * The demo page and its assets, served by `runbus serve` beside the hub: `/` (the page),
 * its scripts and styles from `web/`, the browser client and its one dependency, and
 * `POST /demo/runs` (starts a simulated agent run on this hub).
 *
 * The page is plain ES modules with no build step. It imports the client from
 * `/assets/client/index.js`, which imports `../events/*.js`, `../protocol/*.js` (and
 * `../asks/builtin-events.js`), so they are served from the same tree as this module:
 * `dist/` when running the built package, and when
 * running from `src/` under tsx, the `.ts` sources transpiled on the fly (TypeScript is a
 * dev dependency then). `eventsource-parser` is served from `node_modules` at
 * `/assets/vendor/eventsource-parser.js`, mapped by the page's import map.
 *
 * Only known folders are served, and every path is checked to stay inside its folder.
 */
import { readFile, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, extname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDemoAgent } from './demo-agent.js'
import { hasScope, tokenOf, TokenVerifier, type TokenClaims } from '../hub/auth.js'
import { InvalidArgumentError, PayloadTooLargeError } from '../events/errors.js'
import { checkDeclaredLength, readWebBody } from '../hub/http.js'

/** What the web routes need from `runbus serve`. */
export interface WebRoutesOptions {
  /** This hub's own base URL, for the demo agent to talk to. */
  baseUrl: string
  /**
   * The hub's secret: `POST /demo/runs` then needs a token with `write` scope for every run
   * (the demo agent acts with that authority). Absent on an `--insecure` hub.
   */
  secret?: string
  /** A token with write scope for the demo agent (absent on an `--insecure` hub). */
  agentToken?: string
  /** Aborting it stops every demo agent still running (for a clean shutdown). */
  signal?: AbortSignal
  /** Pacing of demo runs: 1 is watchable (default); the page may ask for 0.5–20. */
  speed?: number
  /** At most this many demo agents at once; more get 429. Default 20. */
  maxDemoRuns?: number
  /** Told of every demo run started, with its `done` (e.g. to await them all at shutdown). */
  onDemoRun?: (run: { runId: string; done: Promise<void> }) => void
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
}

const here = dirname(fileURLToPath(import.meta.url))
/** `src/` or `dist/`: the tree this module runs from. */
const tree = resolve(here, '..')
const webDir = resolve(tree, '..', 'web')
const fromSource = fileURLToPath(import.meta.url).endsWith('.ts')

function vendorFile(): string | undefined {
  try {
    // The package's `require` entry is dist/index.cjs; its ESM twin sits beside it.
    const cjs = createRequire(import.meta.url).resolve('eventsource-parser')
    return join(dirname(cjs), 'index.js')
  } catch {
    return undefined
  }
}

/** Resolves `rel` inside `root`, or `undefined` when it would step outside (or is odd). */
function inside(root: string, rel: string): string | undefined {
  if (rel.includes('\0') || rel.includes('\\')) return undefined
  const parts = rel.split('/')
  if (parts.some((p) => p === '..' || p === '.' || p.startsWith('.'))) return undefined
  const file = resolve(root, ...parts.filter((p) => p !== ''))
  return file.startsWith(root + sep) ? file : undefined
}

async function fileResponse(file: string, head: boolean): Promise<Response | undefined> {
  try {
    const info = await stat(file)
    if (!info.isFile()) return undefined
    const body = head ? null : new Uint8Array(await readFile(file))
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      },
    })
  } catch {
    return undefined
  }
}

type Transpile = (source: string, fileName: string) => string
let transpiler: Promise<Transpile | undefined> | undefined

/** TypeScript's single-file transpiler, when TypeScript is installed (running from src/). */
function loadTranspiler(): Promise<Transpile | undefined> {
  transpiler ??= import('typescript').then(
    (mod) => {
      const ts = (mod as { default?: typeof import('typescript') }).default ?? mod
      return (source: string, fileName: string) =>
        ts.transpileModule(source, {
          fileName,
          compilerOptions: {
            module: ts.ModuleKind.ESNext,
            target: ts.ScriptTarget.ES2022,
            verbatimModuleSyntax: true,
          },
        }).outputText
    },
    () => undefined,
  )
  return transpiler
}

/** Serves `<tree>/<folder>/<rel>` as browser JavaScript, transpiling `.ts` when running from src. */
async function moduleResponse(
  folder: string,
  rel: string,
  head: boolean,
): Promise<Response | undefined> {
  if (!rel.endsWith('.js') && !rel.endsWith('.js.map')) return undefined
  const root = join(tree, folder)
  if (!fromSource) {
    const file = inside(root, rel)
    return file ? fileResponse(file, head) : undefined
  }
  if (!rel.endsWith('.js')) return undefined
  const file = inside(root, rel.replace(/\.js$/, '.ts'))
  if (!file || file.endsWith('.test.ts')) return undefined
  let source: string
  try {
    source = await readFile(file, 'utf8')
  } catch {
    return undefined
  }
  const transpile = await loadTranspiler()
  if (!transpile) return undefined
  return new Response(head ? null : transpile(source, file), {
    status: 200,
    headers: { 'content-type': TYPES['.js'], 'cache-control': 'no-cache' },
  })
}

/** The largest body `POST /demo/runs` reads (it takes at most `{ "speed": n }`). */
const DEMO_BODY_LIMIT = 1024

/** The body as text, or `undefined` once it passes `limit` bytes (the rest is not read). */
async function boundedText(request: Request, limit: number): Promise<string | undefined> {
  try {
    checkDeclaredLength(request.headers.get('content-length') ?? undefined, limit)
    return new TextDecoder().decode(await readWebBody(request.body, limit))
  } catch (err) {
    if (err instanceof PayloadTooLargeError) return undefined
    throw err
  }
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  })
}

function errorResponse(status: number, code: string, message: string): Response {
  return jsonResponse(status, { error: { code, message } })
}

/**
 * Returns a handler that answers the page's routes and `undefined` for anything else
 * (the hub answers those). Mount it before the hub.
 *
 * `POST /demo/runs` (body optional: `{ "speed"?: number }`) starts a demo agent on this hub
 * with `agentToken` and answers 201 `{ runId }`. On a secured hub the caller must present a
 * token the hub accepts (checked by asking the hub itself), so a stranger cannot spend the
 * agent's token.
 *
 * @example
 * ```ts
 * const web = createWebRoutes({ baseUrl: 'http://127.0.0.1:8787', agentToken })
 * const handler = async (req: Request) => (await web(req)) ?? hub.fetch(req)
 * ```
 */
export function createWebRoutes(
  options: WebRoutesOptions,
): (request: Request) => Promise<Response | undefined> {
  const vendor = vendorFile()
  if (options.agentToken !== undefined && options.secret === undefined)
    throw new InvalidArgumentError(
      'createWebRoutes: an agentToken needs the secret, to check who may spend it',
    )
  const verifier = options.secret !== undefined ? new TokenVerifier(options.secret) : undefined
  const maxDemoRuns = options.maxDemoRuns ?? 20
  let demoRuns = 0

  async function startDemo(request: Request): Promise<Response> {
    if (verifier !== undefined) {
      // The agent writes with `*` authority: only a caller who could do that may start it.
      const token = tokenOf(request.headers.get('authorization'), new URL(request.url))
      if (token === undefined) return errorResponse(401, 'unauthorized', 'a token is required')
      let claims: TokenClaims
      try {
        claims = await verifier.verify(token)
      } catch (err) {
        return errorResponse(401, 'unauthorized', err instanceof Error ? err.message : 'bad token')
      }
      if (!hasScope(claims, 'write') || claims.runs !== '*')
        return errorResponse(403, 'forbidden', 'starting a demo run needs write scope on every run')
    }
    if (demoRuns >= maxDemoRuns)
      return errorResponse(429, 'too_many', `at most ${maxDemoRuns} demo runs at once`)
    let speed = options.speed ?? 1
    const text = await boundedText(request, DEMO_BODY_LIMIT)
    if (text === undefined)
      return errorResponse(413, 'payload_too_large', `the body is over ${DEMO_BODY_LIMIT} bytes`)
    if (text.trim() !== '') {
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        return errorResponse(400, 'invalid_argument', 'the body is not JSON')
      }
      const s = (body as { speed?: unknown } | null)?.speed
      if (s !== undefined) {
        if (typeof s !== 'number' || !(s >= 0.5 && s <= 100))
          return errorResponse(400, 'invalid_argument', '"speed" must be a number from 0.5 to 100')
        speed = s
      }
    }
    demoRuns++
    try {
      const { runId, done } = await startDemoAgent({
        baseUrl: options.baseUrl,
        speed,
        ...(options.agentToken !== undefined ? { token: options.agentToken } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      })
      const settled = done
        .catch((err: unknown) => console.error(`runbus demo: run ${runId} failed:`, err))
        .finally(() => demoRuns--)
      options.onDemoRun?.({ runId, done: settled })
      return jsonResponse(201, { runId })
    } catch (err) {
      demoRuns--
      const message = err instanceof Error ? err.message : String(err)
      return errorResponse(502, 'demo_failed', `the demo agent could not start: ${message}`)
    }
  }

  return async (request) => {
    const path = new URL(request.url).pathname
    const method = request.method
    if (path === '/demo/runs') {
      if (method === 'POST') return startDemo(request)
      return new Response(null, { status: 405, headers: { allow: 'POST' } })
    }
    if (method !== 'GET' && method !== 'HEAD') return undefined
    const head = method === 'HEAD'
    let rel: string
    try {
      rel = decodeURIComponent(path)
    } catch {
      return undefined
    }
    if (rel === '/' || rel === '/index.html') return fileResponse(join(webDir, 'index.html'), head)
    if (rel === '/assets/vendor/eventsource-parser.js')
      return vendor ? fileResponse(vendor, head) : undefined
    // The client's modules, and the one asks module it imports (the built-in event shapes).
    const asset =
      /^\/assets\/(client|events|protocol)\/(.+)$/.exec(rel) ??
      /^\/assets\/(asks)\/(builtin-events\.js(?:\.map)?)$/.exec(rel)
    if (asset) return moduleResponse(asset[1], asset[2], head)
    if (
      rel.startsWith('/v1/') ||
      rel.startsWith('/api/') ||
      rel === '/healthz' ||
      rel === '/metrics'
    )
      return undefined
    const file = inside(webDir, rel.slice(1))
    return file ? fileResponse(file, head) : undefined
  }
}
