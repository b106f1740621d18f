import { createRunbus, type JobDeadNotice } from 'runbus'

const rb = createRunbus()
const alerting = { page: (text: string) => console.log('PAGE', text) } // your pager
const dead = rb.bus.subscribe<JobDeadNotice>('work.completions.dead')

const completions = rb.work.queue('completions', { maxAttempts: 1 })
await completions.add({ operationId: 'op-1' }, { id: 'op-1' })
void completions.process(() => Promise.reject(new Error('boom'))) // dead at once

for await (const { data } of dead) {
  alerting.page(`job ${data.id} died after ${data.attempt} attempts: ${data.reason}`)
  break // an app keeps listening
}
await rb.close()
