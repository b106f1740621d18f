import { createRunbus } from 'runbus'

const rb = createRunbus({ retention: { maxEvents: 10_000, ttlMs: 3_600_000 } })
const run = await rb.runs.create({ meta: { title: 'Fix the flaky test' } })

// Any number of readers, arriving at any time: history, then live, then the `end`.
const reader = (async () => {
  for await (const ev of rb.runs.follow(run.id, { after: 'start' })) {
    console.log(ev.seq, ev.type, ev.data)
  }
})()

run.status('reading the repo') // emit: synchronous, ordered, batched to the backend
run.thinking('The loop runs one time too many…')
const call = run.toolCall('run_tests', { path: 'test/retry.test.ts' })
run.toolResult(call, { failed: 1 })
run.text('I found it.')
await run.flush() // resolves once stored, or rejects with the first failure

// The other direction: steering and interrupts reach the agent.
await rb.runs.send(run.id, { type: 'interrupt' }) // aborts run.signal (pass it to your LLM call)
await run.end({ status: 'cancelled' })
await reader
await rb.close() // releases every timer, waiter, watch and subscription
