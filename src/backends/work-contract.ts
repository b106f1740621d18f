/**
 * The work-queue primitives of the backend contract (durable, at-least-once delivery).
 * Filled in by the work-queue part; see `contract.ts` for the rest of the contract.
 */

/** Work-queue storage. Placeholder until the work part lands. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface WorkStore {}
