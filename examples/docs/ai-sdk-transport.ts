import { RunbusChatTransport } from 'runbus/ai-sdk'
// `Chat` without a framework (the AI SDK's AbstractChat over a plain state); in React it is
// `useChat({ id, transport, resume: true })` from '@ai-sdk/react', with the same transport.
import { PlainChat } from '../ai-sdk-chat/chat.js'
// The example app's three routes on runbus (POST /api/chat, GET …/:id/stream, POST …/:id/stop).
import { startChatServer } from '../ai-sdk-chat/server.js'

const server = await startChatServer({ words: 20, delayMs: 1 })
const transport = new RunbusChatTransport({ api: `${server.url}/api/chat` })

const chat = new PlainChat({ id: 'chat-1', transport })
await chat.sendMessage({ text: 'hello' })
console.log(chat.messages.at(-1)?.parts.find((p) => p.type === 'text'))

// A reload: a new Chat on the same id resumes the same run after the last chunk it had
// (`useChat({ resume: true })` does this on mount); a finished answer resumes as done.
const reloaded = new PlainChat({ id: 'chat-1', messages: chat.messages, transport })
await reloaded.resumeStream()
console.log(transport.position('chat-1')) // { run, after: <last chunk id>, done: true }

// `chat.stop()` aborts the request; the transport posts the stop, which interrupts the run's
// inbox, so the server's streamText (abortSignal: run.signal) stops on whichever machine.
await chat.stop()
await server.close()
