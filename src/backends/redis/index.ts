/**
 * `runbus/redis`: the distributed engine. Placeholder until the Redis part lands.
 */
export type { RedisContext } from './context.js'
