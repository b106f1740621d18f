import { Cluster } from 'ioredis'
import { createRunbus } from 'runbus'
import { redisBackend } from 'runbus/redis'

// REDIS_CLUSTER_NODES: 'redis-1:6379,redis-2:6379,…' (any reachable masters)
const nodes = (process.env.REDIS_CLUSTER_NODES ?? 'redis-1:6379').split(',').map((n) => {
  const [host, port] = n.split(':')
  return { host, port: Number(port) }
})
const client = new Cluster(nodes)
const backend = redisBackend({ client })
const rb = createRunbus({ backend })

const run = await rb.runs.create() // its keys share the hash tag {<run id>}: one node
run.text('on a cluster')
await run.end({ status: 'completed' })
for await (const ev of rb.runs.follow(run.id)) console.log(ev.seq, ev.type)
await rb.close()
await backend.close()
await client.quit() // a client you pass in is yours to close
