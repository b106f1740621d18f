/**
 * The ai-sdk chat example's server: a chat whose answers are runs. `POST /api/chat` starts an
 * answer (the mock model through `streamText`, tool approvals decided on the server through
 * asks) and streams it; `GET /api/chat/:id/stream` resumes it (after the client's last chunk,
 * or from the start after a reload); `POST /api/chat/:id/stop` interrupts the run, which
 * aborts `streamText`; `POST /api/asks/:ask` answers an approval (first answer wins).
 *
 * The conversation is kept here, on the server: only the new user message is taken from the
 * client, so a client cannot hand the model a forged history (or a forged approval).
 *
 * Run it: `node --import tsx examples/ai-sdk-chat/server.ts` and open the printed address.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { convertToModelMessages, readUIMessageStream, streamText, tool, type UIMessage } from 'ai'
import { z } from 'zod'
import { build } from 'esbuild'
import { createRunbus, RunbusError, type Runbus } from '../../src/index.js'
import { statusOfCode } from '../../src/hub/index.js'
import {
  pipeWithApprovals,
  readUIMessageChunks,
  uiMessageStreamResponse,
} from '../../src/ai-sdk/index.js'
import { mockModel, numberedReply } from './mock-model.js'

/** Options of {@link startChatServer}. */
export interface ChatServerOptions {
  port?: number
  runbus?: Runbus
  /** Words in an answer. Default 300. */
  words?: number
  /** Milliseconds between text deltas. Default 15. */
  delayMs?: number
  /** How long an approval waits. Default 60 s. */
  approvalTimeout?: number
}

/** A running example server. */
export interface ChatServer {
  url: string
  rb: Runbus
  /** How many times the `deploy` tool ran. */
  deploys(): number
  /** The run answering in a chat right now, if any. */
  activeRun(chatId: string): string | undefined
  close(): Promise<void>
}

const here = fileURLToPath(new URL('.', import.meta.url))
const CHAT_ID = /^[A-Za-z0-9_-]{1,64}$/

async function bundleClient(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL('./client.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
  })
  return out.outputFiles[0].text
}

/** Starts the example server on `port` (default: a free one). */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const rb = options.runbus ?? createRunbus()
  const owned = options.runbus === undefined
  const model = mockModel({
    reply: () => numberedReply(options.words ?? 300),
    chunkChars: 4,
    delayMs: options.delayMs ?? 15,
  })
  let deploys = 0
  const tools = {
    deploy: tool({
      description: 'Deploy the app',
      inputSchema: z.object({ env: z.string() }),
      needsApproval: true,
      execute: async ({ env }) => {
        deploys++
        return { deployed: env }
      },
    }),
  }
  const history = new Map<string, UIMessage[]>()
  const active = new Map<string, string>()
  const clientJs = bundleClient()
  const page = readFile(`${here}index.html`, 'utf8')

  async function startAnswer(chatId: string, userMessage: UIMessage): Promise<Response> {
    const messages = history.get(chatId) ?? []
    messages.push(userMessage)
    history.set(chatId, messages)
    const run = await rb.runs.create({ id: `chat.${chatId}.${messages.length}` })
    active.set(chatId, run.id)
    const modelMessages = await convertToModelMessages(messages)
    const done = pipeWithApprovals({
      runbus: rb,
      run,
      messages: modelMessages,
      timeout: options.approvalTimeout ?? 60_000,
      generateMessageId: () => `${run.id}.answer`,
      round: (m) => streamText({ model, tools, messages: m, abortSignal: run.signal }),
    })
    // The server's record of the answer: what its run holds, rebuilt once it ended.
    void done
      .then(async () => {
        let answer: UIMessage | undefined
        for await (const m of readUIMessageStream({ stream: readUIMessageChunks(rb, run.id) }))
          answer = m
        if (answer !== undefined) messages.push(answer)
      })
      .catch(() => undefined)
      .finally(() => {
        if (active.get(chatId) === run.id) active.delete(chatId)
      })
    return uiMessageStreamResponse(rb, run.id)
  }

  async function route(req: Request): Promise<Response> {
    const url = new URL(req.url)
    const path = url.pathname
    if (req.method === 'GET' && path === '/') {
      return new Response(await page, { headers: { 'content-type': 'text/html; charset=utf-8' } })
    }
    if (req.method === 'GET' && path === '/client.js') {
      return new Response(await clientJs, {
        headers: { 'content-type': 'text/javascript; charset=utf-8' },
      })
    }
    if (req.method === 'POST' && path === '/api/chat') {
      const body = (await req.json()) as { id?: string; messages?: UIMessage[] }
      const chatId = body.id ?? ''
      const last = body.messages?.at(-1)
      if (!CHAT_ID.test(chatId) || last?.role !== 'user') return json(400, { error: 'bad request' })
      if (active.has(chatId)) return json(409, { error: 'an answer is in progress' })
      // Only the new user message's text is taken from the client.
      const text = last.parts.map((p) => (p.type === 'text' ? p.text : '')).join('')
      return startAnswer(chatId, { id: last.id, role: 'user', parts: [{ type: 'text', text }] })
    }
    const m = /^\/api\/chat\/([^/]+)(\/stream|\/stop)?$/.exec(path)
    if (m !== null && CHAT_ID.test(m[1])) {
      const chatId = m[1]
      const runId = active.get(chatId)
      if (req.method === 'GET' && m[2] === undefined) {
        return json(200, { messages: history.get(chatId) ?? [], active: runId ?? null })
      }
      if (req.method === 'GET' && m[2] === '/stream') {
        if (runId === undefined) return new Response(null, { status: 204 })
        // The client's position counts only for the run it was in.
        const after =
          req.headers.get('x-runbus-run') === runId
            ? (req.headers.get('last-event-id') ?? undefined)
            : undefined
        return uiMessageStreamResponse(rb, runId, { after, signal: req.signal })
      }
      if (req.method === 'POST' && m[2] === '/stop') {
        if (runId === undefined) return json(409, { error: 'nothing to stop' })
        await rb.runs.send(runId, { type: 'interrupt', data: { by: 'stop button' } })
        return json(202, { run: runId })
      }
    }
    const a = /^\/api\/asks\/([^/]+)$/.exec(path)
    if (req.method === 'POST' && a !== null) {
      const body = (await req.json()) as { approved?: unknown }
      if (typeof body.approved !== 'boolean') return json(400, { error: 'approved: boolean' })
      const info = await rb.asks.answer(a[1], body.approved, { by: 'page' })
      return json(200, { ask: info.id, state: info.state })
    }
    return json(404, { error: 'not found' })
  }

  const server = createServer((req, res) => void serve(req, res, route))
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await clientJs
  return {
    url: `http://127.0.0.1:${port}`,
    rb,
    deploys: () => deploys,
    activeRun: (chatId) => active.get(chatId),
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      if (owned) await rb.close()
    },
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  })
}

/** node:http ⇄ Web Request/Response, streaming the body; runbus errors become their status. */
async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  handler: (req: Request) => Promise<Response>,
): Promise<void> {
  const ac = new AbortController()
  res.on('close', () => ac.abort())
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') headers.set(k, v)
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
    method: req.method,
    headers,
    signal: ac.signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: 'half' } : {}),
  })
  let response: Response
  try {
    response = await handler(request)
  } catch (err) {
    const status = err instanceof RunbusError ? statusOfCode(err.code) : 500
    response = json(status, { error: err instanceof Error ? err.message : String(err) })
  }
  res.writeHead(response.status, Object.fromEntries(response.headers))
  if (response.body === null) return void res.end()
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)
  body.on('error', () => res.destroy())
  res.on('close', () => body.destroy())
  body.pipe(res)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = await startChatServer({ port: Number(process.env.PORT ?? 8788) })
  console.log(`ai-sdk chat example on ${s.url}`)
}
