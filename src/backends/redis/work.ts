/**
 * Redis work-queue storage. Placeholder until the work part lands.
 */
import type { WorkStore } from '../work-contract.js'
import type { RedisContext } from './context.js'

/** Creates the Redis backend's work store. */
export function createRedisWorkStore(_ctx: RedisContext): WorkStore & { close(): Promise<void> } {
  return { close: () => Promise.resolve() }
}
