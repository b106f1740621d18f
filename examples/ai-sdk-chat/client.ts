/**
 * The example's page script (bundled by the server with esbuild): the AI SDK's `Chat` with
 * runbus's `RunbusChatTransport`. On load it fetches the chat kept by the server and resumes
 * an answer in progress; Stop interrupts the server's run; approval cards answer the ask.
 */
import type { UIMessage } from 'ai'
import { RunbusChatTransport } from '../../src/ai-sdk/transport.js'
import { PlainChat } from './chat.js'

interface ApprovalPart {
  type: 'data-approval'
  id: string
  data: { ask: string; prompt: string; state: string; toolName: string }
}

const $ = <T extends HTMLElement>(sel: string): T => document.querySelector(sel) as T
// The chat id lives in the address (#c…): a reload, or a second tab on the same address,
// opens the same chat.
const chatId =
  /^#(c[a-z0-9]{4,20})$/.exec(location.hash)?.[1] ??
  (() => {
    const id = `c${Math.random().toString(36).slice(2, 10)}`
    history.replaceState(null, '', `#${id}`)
    return id
  })()

/** What the server said to this tab's answer, per ask (kept across renders). */
const results = new Map<string, string>()
let shown: PlainChat | undefined

function render(chat: PlainChat): void {
  shown = chat
  $('#status').textContent = chat.status
  const list = $('#messages')
  list.replaceChildren(
    ...chat.messages.map((m: UIMessage) => {
      const div = document.createElement('div')
      div.className = `message ${m.role}`
      div.dataset.id = m.id
      for (const part of m.parts) {
        if (part.type === 'text') {
          const p = document.createElement('p')
          p.className = 'text'
          p.textContent = part.text
          div.append(p)
        } else if (part.type === 'data-approval') {
          div.append(card(part as unknown as ApprovalPart))
        } else if (part.type.startsWith('tool-')) {
          const p = document.createElement('p')
          p.className = 'tool'
          p.textContent = `${part.type.slice(5)}: ${(part as { state: string }).state}`
          div.append(p)
        }
      }
      return div
    }),
  )
  $<HTMLButtonElement>('#stop').disabled =
    chat.status !== 'streaming' && chat.status !== 'submitted'
}

function card(part: ApprovalPart): HTMLElement {
  const box = document.createElement('div')
  box.className = 'approval'
  box.dataset.ask = part.data.ask
  box.dataset.state = part.data.state
  const prompt = document.createElement('p')
  prompt.textContent = part.data.prompt
  const state = document.createElement('p')
  state.className = 'state'
  state.textContent = part.data.state
  const result = document.createElement('p')
  result.className = 'result'
  result.textContent = results.get(part.data.ask) ?? ''
  box.append(prompt, state)
  for (const [label, approved] of [
    ['Approve', true],
    ['Deny', false],
  ] as const) {
    const b = document.createElement('button')
    b.textContent = label
    b.className = approved ? 'approve' : 'deny'
    b.disabled = part.data.state !== 'pending'
    b.onclick = async () => {
      const res = await fetch(`/api/asks/${encodeURIComponent(part.data.ask)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ approved }),
      })
      results.set(part.data.ask, res.ok ? 'your answer counted' : `refused (${res.status})`)
      // Render again rather than write into `result`: the chunks that arrived while the
      // request was out re-rendered the card, so `result` may be a detached element.
      if (shown !== undefined) render(shown)
    }
    box.append(b)
  }
  box.append(result)
  return box
}

async function main(): Promise<void> {
  const saved = (await (await fetch(`/api/chat/${chatId}`)).json()) as { messages: UIMessage[] }
  const transport = new RunbusChatTransport({ api: '/api/chat' })
  const chat: PlainChat = new PlainChat({
    id: chatId,
    messages: saved.messages,
    transport,
    onChange: () => render(chat),
  })
  render(chat)
  $<HTMLFormElement>('#form').onsubmit = (e) => {
    e.preventDefault()
    const input = $<HTMLInputElement>('#prompt')
    const text = input.value.trim()
    if (text === '') return
    input.value = ''
    void chat.sendMessage({ text })
  }
  $<HTMLButtonElement>('#stop').onclick = () => void chat.stop()
  document.body.dataset.ready = 'true'
  // Resume an answer in progress (useChat's `resume: true`); 204 from the server: none.
  await chat.resumeStream()
}

void main()
