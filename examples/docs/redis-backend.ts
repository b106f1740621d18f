import { createRunbus } from 'runbus'
import { redisBackend } from 'runbus/redis'

const backend = redisBackend({ url: process.env.REDIS_URL, prefix: 'myapp' })
const rb = createRunbus({ backend })
const run = await rb.runs.create()
await run.end({ status: 'completed' })
await rb.close()
await backend.close() // a backend you pass in is yours to close
