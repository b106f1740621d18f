import { createServer } from 'node:http'
import { createRunbus } from 'runbus'
import { createHub, signToken } from 'runbus/hub'

const secret = process.env.RUNBUS_SECRET ?? 'at-least-16-bytes-of-secret'
const rb = createRunbus()
const hub = createHub({ runbus: rb, secret })
const server = createServer(hub.node).listen(Number(process.env.PORT ?? 8787))
// elsewhere: Bun.serve({ fetch: hub.fetch }), export const GET = hub.fetch (Next.js) …
console.log(await signToken(secret, { runs: ['run-1'], scope: ['read', 'answer'] }))

// On shutdown:
await hub.close()
server.close()
await rb.close()
