import { createRunbus } from 'runbus'
import { z } from 'zod'

const rb = createRunbus()
const schema = z.object({ operationId: z.string(), result: z.string() })
const q = rb.work.queue('completions', { schema, maxAttempts: 5, visibilityTimeout: 30_000 })
// notices on the bus: work.completions.completed | .failed | .dead
const done = rb.bus.waitFor('work.completions.completed', { timeout: 10_000 })

await q.add({ operationId: 'op-1', result: 'ok' }, { id: 'op-1' }) // id = idempotency key
await q.add({ operationId: 'op-1', result: 'ok' }, { id: 'op-1' }) // a duplicate: ignored
const worker = q.process(async (job) => console.log('finish', job.data.operationId), {
  concurrency: 20,
})
await done
await worker.stop({ drain: true }) // finish what is in hand, take nothing new
console.log(await q.stats()) // { waiting, inFlight, delayed, dead, completed, failed, redelivered }
console.log(await q.dead.list()) // and q.dead.retry(id), q.dead.purge()
await rb.close()
