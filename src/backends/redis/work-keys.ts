/**
 * The key layout of a Redis work queue, in one place (see `work.ts` for what each key
 * holds). Every key carries the queue name as its hash tag, so one Cluster slot holds a
 * queue and its scripts can touch all of them.
 */
import type { RedisContext } from './context.js'

/** The consumer group every runbus worker of a queue reads through. */
export const GROUP = 'runbus'

/** The keys of one queue. */
export interface WorkKeys {
  stream: string
  delayed: string
  delayedData: string
  dead: string
  deadIdx: string
  stats: string
  released: string
  /** A prefix (`…work:id:`), not a key: idempotency keys are `<idPrefix><job id>`. */
  idPrefix: string
}

/** The keys of `queue` under `ctx`'s prefix. */
export function workKeys(ctx: RedisContext, queue: string): WorkKeys {
  const k = (s: string) => ctx.key(queue, `work:${s}`)
  return {
    stream: k('stream'),
    delayed: k('delayed'),
    delayedData: k('delayed-data'),
    dead: k('dead'),
    deadIdx: k('dead-idx'),
    stats: k('stats'),
    released: k('released'),
    idPrefix: k('id:'),
  }
}
