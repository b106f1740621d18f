/*
 * What the queue benchmark's drivers, the hand-written floor and every peer adapter share: the
 * plain calls user code makes on a queue. In a file of its own so a peer's adapter
 * (bench/queue-peers/) can be loaded only by the worker process that measures that peer.
 */

/**
 * An already resolved promise: `await TICK` yields one microtask without allocating, and
 * `TICK.then(f)` schedules a producer step (Node's queueMicrotask wraps each call in an
 * AsyncResource, a cost that would drown what is measured).
 */
export const TICK: Promise<void> = Promise.resolve()

/** The overflow policies the scenarios use. */
export type Policy = 'block' | 'drop-oldest' | 'drop-newest'

/** What the drivers use of a queue: exactly what user code calls on ours. */
export interface PlainQueue {
  /** Offers without waiting; false when refused (full under block or drop-newest). */
  push(x: number): boolean
  /** Waits for room (block); only called after push() returned false. */
  send(x: number): Promise<void>
  close(): void
  [Symbol.asyncIterator](): AsyncIterator<number>
  /** Batch iteration, when the implementation has it. */
  batches?(): AsyncIterable<number[]>
}

/** A fresh queue; `n` is the scenario's message count, `batch` asks for batch iteration. */
export type Make = (capacity: number, policy: Policy, n: number, batch: boolean) => PlainQueue

/** The iterator result that ends a `for await`. */
export const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined }
