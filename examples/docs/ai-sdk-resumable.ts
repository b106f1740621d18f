import { JsonToSseTransformStream, streamText, UI_MESSAGE_STREAM_HEADERS } from 'ai'
import { createRunbus } from 'runbus'
import { createResumableStreamContext } from 'runbus/ai-sdk'
import { mockModel } from '../ai-sdk-chat/mock-model.js' // MockLanguageModelV3 (ai/test)

const rb = createRunbus() // or { backend: redisBackend(…) }, Postgres…: any backend
const streamContext = createResumableStreamContext({ runbus: rb, waitUntil: null }) // or Next.js `after`
const model = mockModel({ reply: () => 'Hello from runbus.' }) // your provider's model

// POST: start the answer under a fresh stream id (store it as the chat's active stream)
async function POST(req: Request): Promise<Response> {
  const { streamId, prompt } = (await req.json()) as { streamId: string; prompt: string }
  const result = streamText({ model, prompt })
  const stream = await streamContext.resumableStream(streamId, () =>
    result.toUIMessageStream().pipeThrough(new JsonToSseTransformStream()),
  )
  return new Response(stream?.pipeThrough(new TextEncoderStream()), {
    headers: UI_MESSAGE_STREAM_HEADERS,
  })
}

// GET …/stream: resume it, from any process
async function GET(req: Request): Promise<Response> {
  const activeStreamId = new URL(req.url).searchParams.get('id') ?? ''
  const stream = await streamContext.resumeExistingStream(activeStreamId)
  if (!stream) return new Response(null, { status: 204 })
  return new Response(stream.pipeThrough(new TextEncoderStream()), {
    headers: UI_MESSAGE_STREAM_HEADERS,
  })
}

const body = JSON.stringify({ streamId: 'chat-1-turn-1', prompt: 'Hi' })
const answer = await POST(new Request('http://app/api/chat', { method: 'POST', body }))
const resumed = await GET(new Request('http://app/api/chat/stream?id=chat-1-turn-1'))
console.log(await answer.text()) // data: {"type":"start"} … data: [DONE]
console.log(resumed.status, await resumed.text()) // 200 and the same chunks (204 once the answer is done)
await rb.close()
