/**
 * Small key/value records on Redis strings: GET, SET PX, SET NX PX, DEL, under
 * `<prefix>:kv:<key>`. Set-if-absent is one `SET … NX`, atomic on its own.
 */
import type { KeyValueStore } from '../../contract/contract.js'
import { bounded } from './connection.js'
import type { RedisContext } from './context.js'

/** The Redis implementation of `KeyValueStore`. */
export class RedisKeyValue implements KeyValueStore {
  private readonly ctx: RedisContext
  private readonly base: string

  constructor(ctx: RedisContext) {
    this.ctx = ctx
    this.base = `${ctx.prefix}:kv:`
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return bounded(this.ctx.client, this.ctx.commandTimeoutMs, what, fn)
  }

  async get(key: string): Promise<string | undefined> {
    const v = await this.call('kv.get', () => this.ctx.client.get(this.base + key))
    return v ?? undefined
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    const k = this.base + key
    const ttl = ttlOf(ttlMs)
    await this.call('kv.set', () =>
      ttl === undefined ? this.ctx.client.set(k, value) : this.ctx.client.set(k, value, 'PX', ttl),
    )
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const k = this.base + key
    const ttl = ttlOf(ttlMs)
    const res = await this.call('kv.setIfAbsent', () =>
      ttl === undefined
        ? this.ctx.client.set(k, value, 'NX')
        : this.ctx.client.set(k, value, 'PX', ttl, 'NX'),
    )
    return res === 'OK'
  }

  async delete(key: string): Promise<void> {
    await this.call('kv.delete', () => this.ctx.client.del(this.base + key))
  }
}

/** A TTL Redis accepts (whole ms, at least 1), or `undefined` for none. */
function ttlOf(ttlMs: number | undefined): number | undefined {
  if (ttlMs === undefined || !Number.isFinite(ttlMs)) return undefined
  return Math.max(1, Math.ceil(ttlMs))
}
