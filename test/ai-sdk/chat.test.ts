/**
 * The chat transport with the AI SDK's real `Chat` (AbstractChat) against the example server
 * over HTTP: exact resume after a cut, a clean restart after a reload, stop that aborts the
 * server's generation (also from a tab that only resumed), several tabs on one run, and
 * trusted approvals (first answer wins, a timeout denies).
 */
import type { UIMessage } from 'ai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { seqOfId } from '../../src/events/envelope.js'
import { RunbusChatTransport, UI_CHUNK_TYPE } from '../../src/ai-sdk/index.js'
import { PlainChat } from '../../examples/ai-sdk-chat/chat.js'
import { startChatServer, type ChatServer } from '../../examples/ai-sdk-chat/server.js'
import { numberedReply } from '../../examples/ai-sdk-chat/mock-model.js'
import { until } from '../helpers/wait.js'

const WORDS = 150
const FULL = numberedReply(WORDS)

function assistantText(chat: PlainChat): string {
  const last = chat.messages.at(-1)
  if (last?.role !== 'assistant') return ''
  return last.parts.map((p) => (p.type === 'text' ? p.text : '')).join('')
}

/**
 * A fetch whose stream responses break after `cutAfter` bytes: like a dropped connection (a
 * network `TypeError`, which the AI SDK keeps the message's state for), or with `error`.
 */
function cuttingFetch(
  cutAfter: () => number | undefined,
  seen: Request[],
  error: () => Error = () => new TypeError('network error (cut by the test)'),
): typeof fetch {
  return async (input, init) => {
    const req = new Request(input, init)
    seen.push(req.clone())
    const res = await fetch(req)
    const limit = cutAfter()
    if (limit === undefined || res.body === null) return res
    let n = 0
    const body = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          n += chunk.length
          if (n > limit) throw error()
          c.enqueue(chunk)
        },
      }),
    )
    return new Response(body, { status: res.status, headers: res.headers })
  }
}

let chatN = 0
const newChatId = (): string => `t${Date.now().toString(36)}${chatN++}`

async function savedMessages(server: ChatServer, chatId: string): Promise<UIMessage[]> {
  const r = await fetch(`${server.url}/api/chat/${chatId}`)
  return ((await r.json()) as { messages: UIMessage[] }).messages
}

describe('RunbusChatTransport with the AI SDK Chat', () => {
  let server: ChatServer
  beforeAll(async () => {
    server = await startChatServer({ words: WORDS, delayMs: 3, approvalTimeout: 400 })
  })
  afterAll(async () => {
    await server?.close()
  })
  const transport = (fetchFn?: typeof fetch): RunbusChatTransport =>
    new RunbusChatTransport({
      api: `${server.url}/api/chat`,
      ...(fetchFn ? { fetch: fetchFn } : {}),
    })

  it('streams an answer, and says where it stands', async () => {
    const t = transport()
    const chatId = newChatId()
    const chat = new PlainChat({ id: chatId, transport: t })
    await chat.sendMessage({ text: 'hello' })
    expect(chat.status).toBe('ready')
    expect(assistantText(chat)).toBe(FULL)
    expect(t.position(chatId)).toMatchObject({ run: `chat.${chatId}.1`, done: true })
  })

  it('a cut connection resumes after the last chunk received: nothing missing, nothing twice', async () => {
    let cut: number | undefined = 600
    const seen: Request[] = []
    const t = transport(cuttingFetch(() => cut, seen))
    const chatId = newChatId()
    const chat = new PlainChat({ id: chatId, transport: t })
    await chat.sendMessage({ text: 'hello' })
    expect(chat.status).toBe('error')
    const partial = assistantText(chat)
    expect(partial.length).toBeGreaterThan(0)
    expect(FULL.startsWith(partial)).toBe(true)
    cut = undefined
    const position = t.position(chatId)
    expect(position?.done).toBe(false)
    await chat.resumeStream()
    expect(chat.status).toBe('ready')
    expect(assistantText(chat)).toBe(FULL)
    const resume = seen.at(-1)!
    expect(resume.method).toBe('GET')
    expect(resume.headers.get('last-event-id')).toBe(position?.after)
    expect(resume.headers.get('x-runbus-run')).toBe(position?.run)
    expect(chat.messages.filter((m) => m.role === 'assistant')).toHaveLength(1)
  })

  it('after a reload (no position, the partial message kept or not) the answer restarts cleanly', async () => {
    const chatId = newChatId()
    const first = new PlainChat({ id: chatId, transport: transport() })
    void first.sendMessage({ text: 'hello' })
    await until(() => assistantText(first).length > 50, 'some text')
    // A reload: a new page, the server's record of the chat (the user message), resume.
    const reloaded = new PlainChat({
      id: chatId,
      messages: await savedMessages(server, chatId),
      transport: transport(),
    })
    // A tab that kept its partial copy of the answer but lost the transport's position.
    const kept = new PlainChat({
      id: chatId,
      messages: structuredClone(first.messages),
      transport: transport(),
    })
    await Promise.all([reloaded.resumeStream(), kept.resumeStream()])
    for (const chat of [reloaded, kept]) {
      expect(chat.status).toBe('ready')
      expect(assistantText(chat)).toBe(FULL)
      expect(chat.messages.filter((m) => m.role === 'assistant')).toHaveLength(1)
      expect(chat.messages.at(-1)!.parts.filter((p) => p.type === 'text')).toHaveLength(1)
    }
    await until(() => first.status === 'ready', 'the first tab')
    expect(assistantText(first)).toBe(FULL)
  })

  it('stop interrupts the run: the server’s streamText aborts', async () => {
    const chatId = newChatId()
    const chat = new PlainChat({ id: chatId, transport: transport() })
    void chat.sendMessage({ text: 'hello' })
    await until(() => assistantText(chat).length > 20, 'some text')
    const runId = server.activeRun(chatId)!
    await chat.stop()
    await until(async () => (await server.rb.runs.get(runId)).status === 'cancelled', 'cancelled')
    const { events } = await server.rb.runs.get(runId)
    await new Promise((r) => setTimeout(r, 100))
    expect((await server.rb.runs.get(runId)).events).toBe(events)
    expect(assistantText(chat).length).toBeLessThan(FULL.length)
  })

  it('a second tab follows the same run, and its stop (after a resume) stops the generation', async () => {
    const chatId = newChatId()
    const a = new PlainChat({ id: chatId, transport: transport() })
    void a.sendMessage({ text: 'hello' })
    await until(() => assistantText(a).length > 20, 'tab A streams')
    const runId = server.activeRun(chatId)!
    const b = new PlainChat({
      id: chatId,
      messages: await savedMessages(server, chatId),
      transport: transport(),
    })
    void b.resumeStream()
    await until(() => assistantText(b).length > assistantText(a).length - 10, 'tab B caught up')
    await b.stop()
    await until(async () => (await server.rb.runs.get(runId)).status === 'cancelled', 'cancelled')
    await until(() => a.status === 'ready', 'tab A ends too')
    // B stopped reading at once; A read on until the run ended. Both are the same answer, cut.
    expect(assistantText(a).startsWith(assistantText(b))).toBe(true)
    expect(FULL.startsWith(assistantText(a))).toBe(true)
    expect(assistantText(a).length).toBeLessThan(FULL.length)
  })

  it('a tool approval is asked on the server; the first answer wins; the tool runs once', async () => {
    const chatId = newChatId()
    const chat = new PlainChat({ id: chatId, transport: transport() })
    const before = server.deploys()
    void chat.sendMessage({ text: 'please deploy' })
    let ask = ''
    await until(() => {
      const part = chat.messages.at(-1)?.parts.find((p) => p.type === 'data-approval') as
        { data: { ask: string; state: string } } | undefined
      ask = part?.data.state === 'pending' ? part.data.ask : ''
      return ask !== ''
    }, 'an approval card')
    const answer = (approved: boolean) =>
      fetch(`${server.url}/api/asks/${ask}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ approved }),
      }).then((r) => r.status)
    const statuses = await Promise.all([answer(true), answer(false)])
    expect(statuses.sort()).toEqual([200, 409])
    await until(() => chat.status === 'ready', 'the answer')
    const last = chat.messages.at(-1)!
    const card = last.parts.find((p) => p.type === 'data-approval') as { data: { state: string } }
    expect(['approved', 'denied']).toContain(card.data.state)
    const approved = card.data.state === 'approved'
    expect(server.deploys() - before).toBe(approved ? 1 : 0)
    expect(assistantText(chat)).toBe(
      approved ? 'Deployed to prod.' : 'Not deployed: the deploy was denied.',
    )
  })

  it('an approval nobody answers expires: a denial, and the tool does not run', async () => {
    const chatId = newChatId()
    const chat = new PlainChat({ id: chatId, transport: transport() })
    const before = server.deploys()
    await chat.sendMessage({ text: 'deploy it' })
    await until(() => chat.status === 'ready', 'the answer')
    const card = chat.messages.at(-1)!.parts.find((p) => p.type === 'data-approval') as {
      data: { state: string }
    }
    expect(card.data.state).toBe('expired')
    expect(server.deploys()).toBe(before)
    expect(assistantText(chat)).toBe('Not deployed: the deploy was denied.')
  })
})

describe('RunbusChatTransport when retention trimmed the answer', () => {
  const LONG = 1_000
  let server: ChatServer
  const rb = createRunbus({ retention: { maxEvents: 40 } })
  beforeAll(async () => {
    // A long answer: the resume happens while it is still produced, after trimming began.
    server = await startChatServer({ runbus: rb, words: LONG, delayMs: 2 })
  })
  afterAll(async () => {
    await server?.close()
    await rb.close()
  })

  async function retainedText(runId: string): Promise<string> {
    const { events } = await rb.runs.read(runId)
    return events
      .filter((e) => e.type === UI_CHUNK_TYPE)
      .map((e) => e.data as import('ai').UIMessageChunk)
      .map((c) => (c.type === 'text-delta' ? c.delta : ''))
      .join('')
  }

  for (const [how, error] of [
    ['a dropped connection', () => new TypeError('network error (cut by the test)')],
    ['a stream error', () => new Error('the stream broke (cut by the test)')],
  ] as const) {
    it(`a resume after ${how}, past what is retained, restarts the message in place`, async () => {
      let cut: number | undefined = 600
      const seen: Request[] = []
      const t = new RunbusChatTransport({
        api: `${server.url}/api/chat`,
        fetch: cuttingFetch(() => cut, seen, error),
      })
      const chatId = newChatId()
      const chat = new PlainChat({ id: chatId, transport: t })
      await chat.sendMessage({ text: 'hello' })
      expect(chat.status).toBe('error')
      const partial = assistantText(chat)
      expect(partial.length).toBeGreaterThan(0)
      const runId = t.position(chatId)!.run
      // Wait until the chunk after the position was trimmed.
      const after = seqOfId(t.position(chatId)!.after!)!
      await until(async () => (await rb.runs.get(runId)).trimmed > after, 'trimming')
      expect((await rb.runs.get(runId)).status).toBe('running')
      const messageId = chat.messages.at(-1)!.id
      cut = undefined
      await chat.resumeStream()
      expect(chat.status).toBe('ready')
      expect((await rb.runs.get(runId)).status).toBe('completed')
      const resume = seen.at(-1)!
      expect(resume.method).toBe('GET')
      expect(resume.headers.get('x-runbus-run')).toBe(runId)
      // The same message, rebuilt from what was retained when it resumed: each part once, no
      // splice onto the part it held.
      const assistants = chat.messages.filter((m) => m.role === 'assistant')
      expect(assistants).toHaveLength(1)
      expect(assistants[0].id).toBe(messageId)
      expect(assistants[0].parts.filter((p) => p.type === 'text')).toHaveLength(1)
      const text = assistantText(chat)
      const full = numberedReply(LONG)
      expect(text.length).toBeLessThan(full.length - partial.length)
      expect(full.endsWith(text)).toBe(true)
      expect(text.endsWith(await retainedText(runId))).toBe(true)
    })
  }
})
