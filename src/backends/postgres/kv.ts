/**
 * Key/value records on Postgres: one `kv` row per key with an optional expiry (epoch ms).
 * An expired row reads as absent at once; the sweep deletes it later. `setIfAbsent` is one
 * `INSERT … ON CONFLICT DO UPDATE … WHERE expired` statement: atomic across processes (the
 * row lock decides), and an expired record counts as absent.
 */
import type { KeyValueStore } from '../../contract/contract.js'
import type { Driver } from './driver.js'

/** The Postgres implementation of `KeyValueStore`. Internal: made by `postgresBackend()`. */
export class PostgresKeyValue implements KeyValueStore {
  constructor(
    private readonly db: Driver,
    private readonly s: string,
    private readonly ready: () => Promise<void>,
  ) {}

  async get(key: string): Promise<string | undefined> {
    await this.ready()
    const rows = await this.db.query(
      `SELECT value FROM ${this.s}.kv WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)`,
      [key, Date.now()],
      'kv get',
    )
    return rows[0] === undefined ? undefined : (rows[0].value as string)
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    await this.ready()
    const now = Date.now()
    await this.db.query(
      `INSERT INTO ${this.s}.kv (key, value, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      [key, value, ttlMs === undefined ? null : now + Math.max(0, ttlMs)],
      'kv set',
    )
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    await this.ready()
    const now = Date.now()
    const rows = await this.db.query(
      `INSERT INTO ${this.s}.kv AS k (key, value, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         WHERE k.expires_at IS NOT NULL AND k.expires_at <= $4
       RETURNING 1 AS ok`,
      [key, value, ttlMs === undefined ? null : now + Math.max(0, ttlMs), now],
      'kv setIfAbsent',
    )
    return rows.length > 0
  }

  async delete(key: string): Promise<void> {
    await this.ready()
    await this.db.query(`DELETE FROM ${this.s}.kv WHERE key = $1`, [key], 'kv delete')
  }
}
