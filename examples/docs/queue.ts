import { AsyncQueue } from 'runbus'

const q = new AsyncQueue<string>({ capacity: 2, policy: 'block' }) // or drop-oldest | drop-newest | error
q.push('a') // never waits: false when full under 'block'
q.push('b')
const sending = q.send('c', { timeout: 1_000 }) // waits for room, FIFO among blocked senders
console.log(await q.take({ timeout: 5_000 })) // 'a'
await sending
console.log(await q.takeBatch(64)) // [ 'b', 'c' ]: swaps the buffer out, one await for up to 64
q.push('d')
q.close() // consumers drain what is left, then end; q.abort(reason) ends everything now
for await (const batch of q.batches(256)) console.log(batch) // [ 'd' ]
console.log(q.stats) // { enqueued, dequeued, fastPath, dropped, size, highWater, … }

// A producer that awaits send() on a queue the consumer keeps full: once refused, it is held
// until 512 are left, then resumed for the next half queue, not woken once per item.
const jobs = new AsyncQueue<number>({ capacity: 1024, lowWaterMark: 512 })
for (let i = 0; i < 1024; i++) jobs.push(i)
console.log(jobs.push(1024), jobs.tryTakeBatch(511).length, jobs.push(1024)) // false 511 false
jobs.tryTake() // 512 left: producers are let in again, up to 1024
console.log(jobs.push(1024)) // true
