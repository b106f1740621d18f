import { streamText } from 'ai'
import { createRunbus } from 'runbus'
import { pipeUIMessageStream, uiMessageStreamResponse } from 'runbus/ai-sdk'
import { mockModel } from '../ai-sdk-chat/mock-model.js' // MockLanguageModelV3 (ai/test)

const rb = createRunbus()
const model = mockModel({ reply: () => 'Hello from runbus.' }) // your provider's model
const activeRuns = new Map<string, string>() // your chat store: chat → the run answering

// POST /api/chat
async function POST(req: Request): Promise<Response> {
  const { chatId, prompt } = (await req.json()) as { chatId: string; prompt: string }
  const run = await rb.runs.create({ id: `chat.${chatId}.${Date.now()}` })
  activeRuns.set(chatId, run.id)
  const result = streamText({ model, prompt, abortSignal: run.signal }) // an interrupt aborts it
  void pipeUIMessageStream(run, result.toUIMessageStream()) // ends the run with the stream
  return uiMessageStreamResponse(rb, run.id, { signal: req.signal })
}

// GET /api/chat/:id/stream: resume after the client's last chunk
async function GET(req: Request, chatId: string): Promise<Response> {
  return uiMessageStreamResponse(rb, activeRuns.get(chatId) ?? '', {
    after: req.headers.get('last-event-id') ?? undefined,
    signal: req.signal,
  })
}

const body = JSON.stringify({ chatId: 'c1', prompt: 'Hi' })
const answer = await (
  await POST(new Request('http://app/api/chat', { method: 'POST', body }))
).text()
const firstId = /^id: (.+)$/m.exec(answer)?.[1] ?? '' // a client cut off after one chunk
const headers = { 'last-event-id': firstId }
const resumed = await GET(new Request('http://app/api/chat/c1/stream', { headers }), 'c1')
console.log(await resumed.text()) // every chunk after that one, then data: [DONE]
await rb.close()
