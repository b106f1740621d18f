/**
 * A scripted language model for the example, the tests and the benchmark: the AI SDK's own
 * `MockLanguageModelV3` (from `ai/test`), so everything runs with no network and no key.
 *
 * - A user message containing "deploy" makes it call the `deploy` tool (which needs approval);
 *   after the tool's result (or its denial) it answers with one sentence saying which.
 * - Anything else gets `reply(text)`, streamed `chunkChars` characters per text delta, one
 *   every `delayMs` (0: as fast as the stream is read).
 */
import { MockLanguageModelV3 } from 'ai/test'

type StreamResult = Awaited<ReturnType<MockLanguageModelV3['doStream']>>
type Part = StreamResult['stream'] extends ReadableStream<infer P> ? P : never
type Prompt = Parameters<MockLanguageModelV3['doStream']>[0]['prompt']

/** Options of {@link mockModel}. */
export interface MockModelOptions {
  /** The answer to a user message. Default: a numbered list of `words` words. */
  reply?: (userText: string) => string
  /** Characters per text delta. Default 4. */
  chunkChars?: number
  /** Milliseconds between deltas. Default 0. */
  delayMs?: number
}

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 10, text: 10, reasoning: undefined },
}

/** The default reply: `n` numbered words, so a missing or doubled piece is easy to see. */
export function numberedReply(n: number): string {
  return Array.from({ length: n }, (_, i) => `w${i + 1}`).join(' ')
}

function lastUserText(prompt: Prompt): string {
  for (let i = prompt.length - 1; i >= 0; i--) {
    const m = prompt[i]
    if (m.role === 'user') {
      return m.content.map((p) => (p.type === 'text' ? p.text : '')).join('')
    }
  }
  return ''
}

function textParts(text: string, chunkChars: number): Part[] {
  const parts: Part[] = [{ type: 'text-start', id: 't1' }]
  for (let i = 0; i < text.length; i += chunkChars) {
    parts.push({ type: 'text-delta', id: 't1', delta: text.slice(i, i + chunkChars) })
  }
  parts.push({ type: 'text-end', id: 't1' })
  return parts
}

function stream(
  parts: Part[],
  delayMs: number,
  signal: AbortSignal | undefined,
): ReadableStream<Part> {
  let i = 0
  return new ReadableStream<Part>({
    async pull(controller) {
      if (signal?.aborted === true) return controller.error(signal.reason)
      if (delayMs > 0 && i > 0) await new Promise((r) => setTimeout(r, delayMs))
      if (i < parts.length) controller.enqueue(parts[i++])
      else controller.close()
    },
  })
}

/** A `MockLanguageModelV3` that answers as described in the file comment. */
export function mockModel(options: MockModelOptions = {}): MockLanguageModelV3 {
  const chunkChars = options.chunkChars ?? 4
  const delayMs = options.delayMs ?? 0
  const reply = options.reply ?? (() => numberedReply(200))
  return new MockLanguageModelV3({
    doStream: async ({ prompt, abortSignal }) => {
      const last = prompt[prompt.length - 1]
      let parts: Part[]
      let finish: 'stop' | 'tool-calls' = 'stop'
      if (last?.role === 'tool') {
        const out = last.content.find((p) => p.type === 'tool-result')
        const denied = out?.type === 'tool-result' && out.output.type === 'execution-denied'
        parts = textParts(
          denied ? 'Not deployed: the deploy was denied.' : 'Deployed to prod.',
          chunkChars,
        )
      } else if (/deploy/i.test(lastUserText(prompt))) {
        parts = [
          {
            type: 'tool-call',
            toolCallId: 'call-deploy-1',
            toolName: 'deploy',
            input: JSON.stringify({ env: 'prod' }),
          },
        ]
        finish = 'tool-calls'
      } else parts = textParts(reply(lastUserText(prompt)), chunkChars)
      parts.unshift({ type: 'stream-start', warnings: [] })
      parts.push({ type: 'finish', finishReason: { unified: finish, raw: finish }, usage })
      return { stream: stream(parts, delayMs, abortSignal) }
    },
  })
}
