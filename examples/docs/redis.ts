import { createRunbus } from 'runbus'
import { redisBackend } from 'runbus/redis'

const backend = redisBackend({ url: process.env.REDIS_URL, prefix: 'myapp' }) // or { client: new Cluster([...]) }
const rb = createRunbus({ backend, ownBackend: true }) // every example above now works across processes

const run = await rb.runs.create()
run.text('stored in a Redis Stream')
await run.end({ status: 'completed' })
for await (const ev of rb.runs.follow(run.id)) console.log(ev.seq, ev.type)
await rb.close() // ownBackend: also closes the backend's connections, so the process can exit
