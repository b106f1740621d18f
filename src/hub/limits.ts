/**
 * The hub's connection caps and request timeouts: how many requests (SSE/NDJSON streams
 * included, for as long as they stay open) one token subject, one client address and the
 * whole hub may hold at once, and how long a client may take to send its request.
 *
 * Invariant: every slot taken is given back exactly once (the release function is
 * idempotent and is called when the response closes, however it closes), so the counts
 * are exact and a map entry exists only while its count is above zero.
 */
import { TooManyError } from '../events/errors.js'
import { InvalidArgumentError } from '../events/errors.js'

/**
 * Limits of a hub (`createHub({ limits })`). Every value is checked: a positive integer
 * (or `Infinity` for the caps).
 *
 * @example
 * ```ts
 * createHub({ runbus: rb, secret, limits: { maxConnectionsPerSubject: 50 } })
 * ```
 */
export interface HubLimits {
  /** Open requests (streams included) in all. Default 10,000. Over: 429. */
  maxConnections?: number
  /** Open requests per client address. Default 256. Over: 429. */
  maxConnectionsPerAddress?: number
  /** Open requests per token subject. Default 128. Over: 429. */
  maxConnectionsPerSubject?: number
  /** The `Retry-After` a refused request is given, seconds. Default 5. */
  retryAfterSeconds?: number
  /** Time to receive a request's headers (`server.headersTimeout`), ms. Default 10 s. */
  headersTimeoutMs?: number
  /** Time to receive a whole request, body included (`server.requestTimeout`), ms. Default 30 s. */
  requestTimeoutMs?: number
  /** Longest pause between two chunks of a request body, ms (then 408, connection closed). Default 10 s. */
  bodyIdleTimeoutMs?: number
}

/** {@link HubLimits} with every default filled in. */
export type ResolvedHubLimits = Required<HubLimits>

/** The defaults of {@link HubLimits}. */
export const DEFAULT_HUB_LIMITS: Readonly<ResolvedHubLimits> = {
  maxConnections: 10_000,
  maxConnectionsPerAddress: 256,
  maxConnectionsPerSubject: 128,
  retryAfterSeconds: 5,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  bodyIdleTimeoutMs: 10_000,
}

/**
 * Checks `limits` (unknown names and bad values are `InvalidArgumentError`) and fills in
 * the defaults.
 *
 * @example
 * ```ts
 * resolveHubLimits({ maxConnections: 100 }).maxConnectionsPerAddress // 256
 * ```
 */
export function resolveHubLimits(limits: HubLimits = {}): ResolvedHubLimits {
  const out: ResolvedHubLimits = { ...DEFAULT_HUB_LIMITS }
  for (const [k, v] of Object.entries(limits) as [keyof HubLimits, unknown][]) {
    if (!(k in DEFAULT_HUB_LIMITS))
      throw new InvalidArgumentError(
        `unknown hub limit ${JSON.stringify(k)} (known: ${Object.keys(DEFAULT_HUB_LIMITS).join(', ')})`,
      )
    if (v === undefined) continue
    const cap = k.startsWith('max')
    if (
      typeof v !== 'number' ||
      !(v > 0) ||
      (!cap && !Number.isFinite(v)) ||
      (Number.isFinite(v) && !Number.isInteger(v))
    )
      throw new InvalidArgumentError(
        `limits.${k} must be a positive integer${cap ? ' or Infinity' : ''}`,
      )
    out[k] = v
  }
  return out
}

/** A refused request: 429 with `Retry-After`. Code `too_many`. */
export class ConnectionLimitError extends TooManyError {
  /** Seconds the client should wait before trying again. */
  readonly retryAfter: number
  /** Which cap was reached. */
  readonly cap: 'global' | 'address' | 'subject'
  constructor(cap: 'global' | 'address' | 'subject', limit: number, retryAfter: number) {
    super(
      `too many open requests ${cap === 'global' ? 'on this hub' : `for this ${cap === 'address' ? 'client address' : 'token'}`} (at most ${limit}): retry later`,
    )
    this.cap = cap
    this.retryAfter = retryAfter
  }
}

/** Counts of a {@link ConnectionLimiter}, for metrics. */
export interface ConnectionStats {
  open: number
  addresses: number
  subjects: number
  /** Requests refused by each cap, ever. */
  refused: { global: number; address: number; subject: number }
}

/** Counts open requests per address, per subject and in all. Internal to the hub. */
export class ConnectionLimiter {
  private open = 0
  private readonly byAddress = new Map<string, number>()
  private readonly bySubject = new Map<string, number>()
  private readonly refused = { global: 0, address: 0, subject: 0 }

  constructor(readonly limits: ResolvedHubLimits) {}

  /** Takes a slot for a request from `address`; throws `ConnectionLimitError` when full. */
  acquire(address: string | undefined): () => void {
    if (this.open >= this.limits.maxConnections) {
      this.refused.global++
      throw new ConnectionLimitError(
        'global',
        this.limits.maxConnections,
        this.limits.retryAfterSeconds,
      )
    }
    if (address !== undefined) {
      const n = this.byAddress.get(address) ?? 0
      if (n >= this.limits.maxConnectionsPerAddress) {
        this.refused.address++
        throw new ConnectionLimitError(
          'address',
          this.limits.maxConnectionsPerAddress,
          this.limits.retryAfterSeconds,
        )
      }
      this.byAddress.set(address, n + 1)
    }
    this.open++
    let done = false
    return () => {
      if (done) return
      done = true
      this.open--
      if (address !== undefined) this.dec(this.byAddress, address)
    }
  }

  /** Takes a slot for a token subject (after authentication); throws when full. */
  acquireSubject(subject: string): () => void {
    const n = this.bySubject.get(subject) ?? 0
    if (n >= this.limits.maxConnectionsPerSubject) {
      this.refused.subject++
      throw new ConnectionLimitError(
        'subject',
        this.limits.maxConnectionsPerSubject,
        this.limits.retryAfterSeconds,
      )
    }
    this.bySubject.set(subject, n + 1)
    let done = false
    return () => {
      if (done) return
      done = true
      this.dec(this.bySubject, subject)
    }
  }

  private dec(map: Map<string, number>, key: string): void {
    const n = (map.get(key) ?? 1) - 1
    if (n <= 0) map.delete(key)
    else map.set(key, n)
  }

  /** Open requests and refusals. */
  stats(): ConnectionStats {
    return {
      open: this.open,
      addresses: this.byAddress.size,
      subjects: this.bySubject.size,
      refused: { ...this.refused },
    }
  }
}
