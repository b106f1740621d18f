/**
 * The JSON bodies of the hub's routes (PROTOCOL.md), as both ends type them: the hub builds
 * them, the client reads them.
 */
import type { RunStatus } from '../events/envelope.js'
import type { RunSummary } from '../agent/runs.js'
import type { AskInfo } from '../asks/types.js'

/** A run as `GET /v1/runs/{run}` describes it. */
export interface RunWire {
  id: string
  status: RunStatus
  /** The id of the last event, `null` when there is none yet. */
  lastId: string | null
  /** How many events the run holds (retained: trimmed ones do not count). */
  events: number
  /** Epoch ms. */
  createdAt: number
  endedAt?: number
  error?: string
  meta?: Record<string, unknown>
  /** Connections following this run on the answering hub process (not across hubs). */
  readers?: number
}

/** The answer of `POST /v1/runs`: the run, and tokens for it when the hub mints them. */
export interface CreatedRunWire {
  run: RunWire
  tokens?: { read: string; answer: string }
}

/** An ask on the wire: exactly what `rb.asks.get()` returns in-process. */
export type AskWire = AskInfo

/** The answer of `POST /v1/runs/{run}/events`: the ids given, in order. */
export interface AppendedWire {
  ids: string[]
}

/** The wire form of a run. */
export function runWire(info: RunSummary, readers?: number): RunWire {
  return {
    id: info.id,
    status: info.status,
    lastId: info.lastId ?? null,
    events: info.events - info.trimmed,
    createdAt: info.createdAt,
    ...(info.endedAt !== undefined ? { endedAt: info.endedAt } : {}),
    ...(info.error !== undefined ? { error: info.error } : {}),
    ...(info.meta !== undefined ? { meta: info.meta } : {}),
    ...(readers !== undefined ? { readers } : {}),
  }
}
