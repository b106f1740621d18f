/**
 * In-process work-queue storage. Placeholder until the work part lands.
 */
import type { WorkStore } from '../work-contract.js'

/** Creates the memory backend's work store. */
export function createMemoryWorkStore(): WorkStore & { close(): Promise<void> } {
  return { close: () => Promise.resolve() }
}
