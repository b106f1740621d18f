/**
 * Helpers for the conformance suite: fresh ids, collecting a follower, waiting for a
 * condition (polling a real condition with a bound, never a fixed sleep).
 */
import { randomUUID } from 'node:crypto'
import type { Runbus, RunEvent } from '../../src/index.js'
import { epochTagOf, eventIdOf } from '../../src/events/envelope.js'
import { until as waitUntil } from '../helpers/wait.js'

/** A fresh run id per test: suites on a shared backend never collide. */
export function freshId(prefix = 'run'): string {
  return `${prefix}-${randomUUID()}`
}

/** Drains an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

/**
 * The id runbus hands out for `seq` of the run `runId` as it exists now (the codec with the
 * run's incarnation, its `createdAt`): for assertions on ids that were never handed out
 * (gap bounds), or to compare with ids read back.
 */
export async function idAt(rb: Runbus, runId: string, seq: number): Promise<string> {
  return eventIdOf(seq, epochTagOf((await rb.runs.get(runId)).createdAt))
}

/** seq and type of each event, for compact assertions. */
export function brief(events: readonly RunEvent[]): Array<[number, string]> {
  return events.map((e) => [e.seq, e.type])
}

/**
 * Waits until `check()` is truthy; fails after `timeoutMs`. The shared polling wait
 * (`test/helpers/wait.ts`), with the argument order the suites use.
 */
export function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  return waitUntil(check, what, timeoutMs, 2)
}
