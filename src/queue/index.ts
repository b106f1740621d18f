export { AsyncQueue, QueueIterator } from './async-queue.js'
export type { AsyncQueueOptions, QueueState, QueueStats, WaitOptions } from './async-queue.js'
export type { OverflowPolicy } from './overflow.js'
