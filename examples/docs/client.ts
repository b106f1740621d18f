import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRunbus } from 'runbus'
import { createHub } from 'runbus/hub'
import { createClient, HubError } from 'runbus/client'

// A hub to talk to (yours runs elsewhere: `runbus serve`, or `runbus/hub` in your server).
const rb = createRunbus()
const server = createServer(createHub({ runbus: rb, insecure: true }).node).listen(0)
await once(server, 'listening')

const hub = createClient({
  baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  token: process.env.RUNBUS_TOKEN, // or () => currentToken(), read before every request
})

// An agent in any process: create a run, write to it, ask a person, end it.
const { run } = await hub.createRun({ meta: { title: 'Fix the flaky test' } })
await hub.append(run.id, { type: 'text', data: { text: 'Looking at the test…' } }) // the shape run.text() writes
const ask = await hub.ask(run.id, {
  kind: 'confirm',
  prompt: 'Merge the fix?',
  data: { diff: '--- a/src/retry.ts\n+++ b/src/retry.ts\n…' },
})

// A reader anywhere: follow the run; it reconnects and resumes by itself.
const follow = hub.follow(run.id)
follow.on('state', ({ state, delayMs }) => console.log(state, delayMs ?? ''))
follow.on('gap', ({ from, to }) => console.warn(`events ${from}–${to} are gone`))
for await (const ev of follow) {
  console.log(ev.seq, ev.type, ev.data)
  if (ev.type === 'ask') await hub.answer(ask.id, true, { by: 'ana' }) // a person would click here
  if (ev.type === 'answer') await hub.end(run.id, { status: 'completed' })
} // ends after the run's `end` event

try {
  await hub.answer(ask.id, false)
} catch (err) {
  if (err instanceof HubError && err.code === 'ask_answered') console.log('too late:', err.status) // 409
}
server.closeAllConnections()
server.close()
await rb.close()
