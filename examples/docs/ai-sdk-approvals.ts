import { convertToModelMessages, streamText, tool, type UIMessage } from 'ai'
import { createRunbus } from 'runbus'
import { pipeWithApprovals, uiMessageStreamResponse } from 'runbus/ai-sdk'
import { z } from 'zod'
import { mockModel } from '../ai-sdk-chat/mock-model.js' // MockLanguageModelV3: calls `deploy`

const rb = createRunbus()
const model = mockModel() // your provider's model
const tools = {
  deploy: tool({
    inputSchema: z.object({ env: z.string() }),
    needsApproval: true,
    execute: async ({ env }) => ({ deployed: env }),
  }),
}
const serverHistory: UIMessage[] = [] // the server's record of the chat

async function POST(req: Request): Promise<Response> {
  serverHistory.push((await req.json()) as UIMessage) // only the new user message
  const run = await rb.runs.create()
  void pipeWithApprovals({
    runbus: rb,
    run,
    messages: await convertToModelMessages(serverHistory), // the server's record, not the client's
    timeout: 120_000,
    round: (messages) => streamText({ model, tools, messages, abortSignal: run.signal }),
  })
  return uiMessageStreamResponse(rb, run.id)
}

// The page shows a card for each `data-approval` part ({ ask, prompt, toolName, input, state })
// and answers the ask: POST /api/asks/:ask → rb.asks.answer(ask, true | false, { by })
// (or the hub's POST /v1/asks/{ask}/answer with an `answer`-scoped token).
const message = { id: 'm1', role: 'user', parts: [{ type: 'text', text: 'deploy it' }] }
const res = await POST(
  new Request('http://app/api/chat', { method: 'POST', body: JSON.stringify(message) }),
)
const run = res.headers.get('x-runbus-run') ?? ''
let pending = await rb.asks.pending({ run })
while (pending.length === 0) {
  await new Promise((r) => setTimeout(r, 20))
  pending = await rb.asks.pending({ run })
}
await rb.asks.answer(pending[0].id, true, { by: 'ada' })
console.log(await res.text()) // … data-approval (approved), tool output, "Deployed to prod."
await rb.close()
