import { createRunbus } from 'runbus'
import { z } from 'zod'

const rb = createRunbus() // on Redis: createRunbus({ backend: redisBackend({ url }) })
const tasks = { finish: async (id: string, result: unknown) => console.log(id, result) }

const completions = rb.work.queue('completions', {
  schema: z.object({ operationId: z.string(), taskId: z.string(), result: z.unknown() }),
  maxAttempts: 5, // then the dead letters
  visibilityTimeout: 30_000, // a silent worker's jobs come back after 30 s
  backoff: { initialMs: 1_000, maxMs: 60_000 }, // exponential, full jitter
})

// Producer: the id is an idempotency key — a second add with it is ignored (24 h).
await completions.add({ operationId: 'op-1', taskId: 't-9', result: { ok: true } }, { id: 'op-1' })
const d2 = { operationId: 'op-2', taskId: 't-10', result: 42 }
await completions.addMany([{ data: d2, delay: 50 }]) // one round trip

// Consumer: resolve = acknowledged; throw = retried after back-off.
const worker = completions.process(
  async (job) => {
    // job: { id, data, attempt, firstSeenAt, lastError?, redelivered, signal, extend(ms) }
    await tasks.finish(job.data.taskId, job.data.result) // make it idempotent: at-least-once
  },
  { concurrency: 20 },
)

// Finish what is in hand (at most 10 s), take nothing new.
process.on('SIGTERM', () => void worker.stop({ drain: true, timeout: 10_000 }))
while ((await completions.stats()).completed < 2) await new Promise((r) => setTimeout(r, 20))
await worker.stop({ drain: true, timeout: 10_000 })
await rb.close()
