import { createRunbus } from 'runbus'
import { z } from 'zod'

const rb = createRunbus()
const deploys = rb.bus.channel('deploys.done', { schema: z.object({ sha: z.string() }) })
const sub = rb.bus.subscribe('deploys.>', {
  onInterrupted: (info) => console.warn('messages may be lost', info),
})
await sub.ready
const first = deploys.waitFor({ timeout: 30_000, filter: (m) => m.data.sha === 'abc123' })
await deploys.publish({ sha: 'abc123' }) // a publish right after waitFor is never missed
console.log('waitFor:', (await first).data)
for await (const { channel, data } of sub) {
  console.log(channel, data)
  break // leaving the loop ends the subscription
}
await rb.close()
