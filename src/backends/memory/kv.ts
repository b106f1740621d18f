/**
 * In-process key/value records with expiry. Expired keys are dropped when touched and by
 * one unref'd sweep timer (so a key nobody reads again does not stay forever); the timer
 * runs only while keys with a TTL exist and is cleared on close.
 */
import type { KeyValueStore } from '../../contract/contract.js'
import { ClosedError, InsufficientStorageError } from '../../events/errors.js'
import type { MemoryMeter } from './runs.js'

interface Entry {
  value: string
  expiresAt: number
}

const SWEEP_MS = 30_000

/** The memory key/value store, with test hooks. */
export interface MemoryKeyValueStore extends KeyValueStore {
  /** Keys stored now (expired ones not yet swept may count). */
  size(): number
  close(): void
}

/** Creates an in-process key/value store. Internal: used by `memoryBackend()`. */
export function createMemoryKeyValueStore(
  meter: MemoryMeter = { max: Infinity, used: 0, refused: 0 },
): MemoryKeyValueStore {
  const cost = (key: string, value: string): number => key.length + value.length + 64
  const map = new Map<string, Entry>()
  let withTtl = 0
  let sweeper: ReturnType<typeof setInterval> | undefined
  let closed = false

  function open(): void {
    if (closed) throw new ClosedError('memory backend is closed')
  }

  function live(key: string): Entry | undefined {
    const e = map.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= Date.now()) {
      remove(key, e)
      return undefined
    }
    return e
  }

  function remove(key: string, e: Entry): void {
    map.delete(key)
    meter.used -= cost(key, e.value)
    if (e.expiresAt !== Infinity && --withTtl === 0 && sweeper !== undefined) {
      clearInterval(sweeper)
      sweeper = undefined
    }
  }

  function put(key: string, value: string, ttlMs: number | undefined): void {
    const old = map.get(key)
    const more = cost(key, value) - (old === undefined ? 0 : cost(key, old.value))
    if (more > 0 && meter.used + more > meter.max) {
      meter.refused++
      throw new InsufficientStorageError('instance', meter.max)
    }
    if (old !== undefined) remove(key, old)
    meter.used += cost(key, value)
    const expiresAt = ttlMs === undefined ? Infinity : Date.now() + Math.max(0, ttlMs)
    map.set(key, { value, expiresAt })
    if (expiresAt !== Infinity) {
      withTtl++
      if (sweeper === undefined) {
        sweeper = setInterval(() => {
          const now = Date.now()
          for (const [k, e] of [...map]) if (e.expiresAt <= now) remove(k, e)
        }, SWEEP_MS)
        sweeper.unref?.()
      }
    }
  }

  return {
    async get(key) {
      open()
      return live(key)?.value
    },
    async set(key, value, ttlMs) {
      open()
      put(key, value, ttlMs)
    },
    async setIfAbsent(key, value, ttlMs) {
      open()
      if (live(key) !== undefined) return false
      put(key, value, ttlMs)
      return true
    },
    async delete(key) {
      open()
      const e = map.get(key)
      if (e !== undefined) remove(key, e)
    },
    size: () => map.size,
    close() {
      closed = true
      if (sweeper !== undefined) clearInterval(sweeper)
      sweeper = undefined
      for (const [k, e] of map) meter.used -= cost(k, e.value)
      map.clear()
      withTtl = 0
    },
  }
}
