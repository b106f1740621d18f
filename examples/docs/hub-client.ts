import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRunbus } from 'runbus'
import { createHub, signToken } from 'runbus/hub'
import { createClient, isEvent } from 'runbus/client' // browsers and Node

const secret = process.env.RUNBUS_SECRET ?? 'at-least-16-bytes-of-secret'
const rb = createRunbus()
const hub = createHub({ runbus: rb, secret })
const server = createServer(hub.node).listen(0, '127.0.0.1') // or hub.fetch for Hono, Next.js, Bun, Deno
await once(server, 'listening')
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

// An agent in this process asks; a client over HTTP answers.
const run = await rb.runs.create()
const asking = run.ask({ kind: 'confirm', prompt: 'Ship it?' })

const token = await signToken(secret, { runs: [run.id], scope: ['read', 'answer'] })
const client = createClient({ baseUrl, token })
const follow = client.follow(run.id) // reconnects with back-off, resumes from its last id, drops duplicates
for await (const ev of follow) {
  console.log(ev.seq, ev.type)
  if (isEvent(ev, 'ask')) await client.answer(ev.data.ask, true) // typed data
  if (isEvent(ev, 'answer')) break
}
await follow.close()
console.log('answered:', await asking)

await run.end({ status: 'completed' })
await hub.close()
server.close()
await rb.close()
