/**
 * What an ask is in the backend: the record `kv["ask:<id>"]` (JSON), written before the
 * `ask` event is appended, and the outcome `kv["ask:<id>:result"]` (set-if-absent: the one
 * winner between an answer and an expiry). Pure: how they read as an `AskInfo`, and what
 * a waiter gets from an outcome.
 */
import { AskExpiredError, AskTimeoutError } from '../events/errors.js'
import type { AskExpiryReason, AskInfo, AskKind } from './types.js'

/** How long an ask without timeout stays answerable. */
export const OPEN_ASK_TTL_MS = 7 * 24 * 3600 * 1000

/** The stored ask. */
export interface AskRecord {
  id: string
  run: string
  kind: AskKind
  prompt: string
  data?: unknown
  choices?: string[]
  schema?: Record<string, unknown>
  hasSchema?: boolean
  createdAt: number
  expiresAt?: number
  eventId?: string
  ttlMs: number
}

/** The stored outcome of an ask. */
export interface AskResult {
  state: 'answered' | 'expired'
  answer?: unknown
  by?: string
  label?: string
  reason?: AskExpiryReason
  at: number
}

/** The kv key of an ask's record. */
export const askKey = (id: string): string => `ask:${id}`
/** The kv key of an ask's outcome. */
export const resultKey = (id: string): string => `ask:${id}:result`

/** The ask as callers see it (an ask past `expiresAt` with no outcome stored reads as expired). */
export function info(rec: AskRecord, result: AskResult | undefined): AskInfo {
  const out: AskInfo = {
    id: rec.id,
    run: rec.run,
    kind: rec.kind,
    prompt: rec.prompt,
    state: 'pending',
    createdAt: rec.createdAt,
  }
  if (rec.data !== undefined) out.data = rec.data
  if (rec.choices !== undefined) out.choices = rec.choices
  if (rec.schema !== undefined) out.schema = rec.schema
  if (rec.expiresAt !== undefined) out.expiresAt = rec.expiresAt
  if (rec.eventId !== undefined) out.eventId = rec.eventId
  if (result !== undefined) {
    out.state = result.state
    out.decidedAt = result.at
    if (result.state === 'answered') {
      out.answer = result.answer
      if (result.by !== undefined) out.answeredBy = result.by
      if (result.label !== undefined) out.answerLabel = result.label
    } else if (result.reason !== undefined) out.expiredReason = result.reason
  } else if (rec.expiresAt !== undefined && rec.expiresAt <= Date.now()) {
    out.state = 'expired'
    out.expiredReason = 'timeout'
  }
  return out
}

/** What a waiter gets from an outcome: the answer, or the expiry as a typed error. */
export function outcome(rec: AskRecord, result: AskResult, timeoutMs: number | undefined): unknown {
  if (result.state === 'answered') return result.answer
  if (result.reason === 'timeout') {
    throw new AskTimeoutError(rec.id, timeoutMs ?? (rec.expiresAt ?? result.at) - rec.createdAt)
  }
  throw new AskExpiredError(
    rec.id,
    `ask ${JSON.stringify(rec.id)} expired (${result.reason ?? 'expired'})`,
  )
}
