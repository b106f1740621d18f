export { AsyncQueue, QueueIterator } from './async-queue.js'
export type {
  AsyncQueueOptions,
  OverflowPolicy,
  QueueState,
  QueueStats,
  WaitOptions,
} from './async-queue.js'
