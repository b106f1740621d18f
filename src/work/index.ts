/**
 * Work queues (durable, at-least-once). Placeholder until the work part lands; the entry
 * point wires `rb.work` through `createWorkApi`.
 */
import type { Backend } from '../backends/contract.js'

/** The work-queue API on a runbus instance (`rb.work`). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface WorkApi {}

/** Options shared by every work queue of an instance. */
export interface WorkApiOptions {
  /** Publish completion notices on the bus (`work.<queue>.completed|failed|dead`). */
  publish?: (channel: string, data: unknown) => Promise<void>
}

/** Builds `rb.work` over a backend. Internal: called by `createRunbus`. */
export function createWorkApi(
  _backend: Backend,
  _options: WorkApiOptions = {},
): WorkApi & { close(): Promise<void> } {
  return { close: () => Promise.resolve() }
}
