import { createRunbus } from 'runbus'

const rb = createRunbus()
const completions = rb.work.queue('completions', { maxAttempts: 1 })
await completions.add({ operationId: 'op-1' }, { id: 'op-1' })
const worker = completions.process(() => Promise.reject(new Error('boom'))) // dead at once
while ((await completions.stats()).dead < 1) await new Promise((r) => setTimeout(r, 20))
await worker.stop()

console.log(await completions.stats())
// { waiting, inFlight, delayed, dead, completed, failed, redelivered, lateAcks }
console.log(await completions.dead.list({ limit: 50 })) // [{ id, payload, attempts, reason, … }]
await completions.dead.retry('op-1') // back to waiting, attempts start over (no id: all)
await completions.dead.purge() // delete them (or some ids)
await rb.close()
