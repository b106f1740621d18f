/**
 * A hub with the demo page, in-process, on a free port: what `runbus serve` does, built
 * from the parts directly so the browser test does not depend on the CLI. Streams can be
 * cut from the server side (`dropStreams`) to prove the page resumes without duplicates.
 *
 * Run it by hand to look at the page: `node --import tsx test/helpers/demo-server.ts`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { createRunbus, type Runbus } from '../../src/index.js'
import { createHub } from '../../src/hub/index.js'
import { createWebRoutes } from '../../src/cli/web-routes.js'

/** A running demo server. */
export interface DemoServer {
  url: string
  /** The runbus the hub serves (scripts make runs on it directly, as the README does). */
  rb: Runbus
  /** Destroys every open run-stream connection (readers must resume by themselves). */
  dropStreams(): number
  /** Open run-stream connections right now. */
  openStreams(): number
  close(): Promise<void>
}

function isHubPath(path: string): boolean {
  return (
    path.startsWith('/v1/') ||
    path.startsWith('/api/') ||
    path === '/healthz' ||
    path === '/metrics'
  )
}

/** Passes a Web `Response` to a node response, streaming the body. */
async function sendWeb(res: ServerResponse, response: Response): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers))
  if (!response.body) return void res.end()
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)
  body.pipe(res)
  await new Promise<void>((resolve) => res.on('close', resolve))
}

function toRequest(req: IncomingMessage, base: string): Request {
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') headers.set(k, v)
    else if (Array.isArray(v)) headers.set(k, v.join(', '))
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  return new Request(new URL(req.url ?? '/', base), {
    method: req.method ?? 'GET',
    headers,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: 'half' } : {}),
  })
}

/** Starts the hub, its web routes and a node:http server on `port` (0: any free port). */
export async function startDemoServer(
  options: { port?: number; speed?: number; maxEvents?: number } = {},
): Promise<DemoServer> {
  const rb = createRunbus(
    options.maxEvents !== undefined ? { retention: { maxEvents: options.maxEvents } } : {},
  )
  const hub = createHub({ runbus: rb, insecure: true, pingIntervalMs: 5000 })
  const stop = new AbortController()
  const streams = new Set<ServerResponse>()
  // The routes need the server's URL, known only once it listens.
  const routes: { web?: (request: Request) => Promise<Response | undefined> } = {}
  let base = ''
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (isHubPath(path)) {
      if (req.method === 'GET' && /^\/v1\/runs\/[^/]+\/events$/.test(path)) {
        streams.add(res)
        res.on('close', () => streams.delete(res))
      }
      return hub.node(req, res)
    }
    routes.web!(toRequest(req, base)).then(
      (response) => (response ? sendWeb(res, response) : void res.writeHead(404).end('not found')),
      (err: unknown) => {
        console.error(err)
        res.writeHead(500).end()
      },
    )
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const agents: Array<Promise<void>> = []
  routes.web = createWebRoutes({
    baseUrl: base,
    signal: stop.signal,
    speed: options.speed ?? 1,
    onDemoRun: ({ done }) => agents.push(done),
  })
  return {
    url: base,
    rb,
    dropStreams() {
      const n = streams.size
      for (const res of streams) res.socket?.destroy()
      return n
    },
    openStreams: () => streams.size,
    async close() {
      stop.abort()
      await Promise.all(agents) // each ends its run (cancelled) while the hub still answers
      await hub.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await rb.close()
    },
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const port = Number(process.env.PORT ?? 8787)
  const s = await startDemoServer({ port })
  console.log(`demo page: ${s.url}/`)
}
