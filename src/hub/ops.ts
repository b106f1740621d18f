/**
 * What the hub needs from a runbus instance, in one narrow interface. The routes speak only
 * to this; `opsOf(rb)` maps it onto the runbus API (and, where an HTTP caller acts on a run
 * it does not hold a handle for, onto the backend contract with the core's codec).
 */
import type { Backend, RunInfo, Unsubscribe } from '../contract/contract.js'
import type { InboxMessage, RunEnd, RunEvent, RunStatus } from '../events/envelope.js'

/** An ask, as the hub sends it over the wire. */
export type AskWire = { id: string; run: string; state: string } & Record<string, unknown>

/** What an HTTP caller asks a person. */
export interface AskSpec {
  kind: string
  prompt: string
  data?: unknown
  choices?: unknown[]
  /** Milliseconds. */
  timeout?: number
}

/** Gauges and counters the metrics endpoint pulls from the core, when it has them. */
export interface CoreStats {
  runs?: number
  subscribers?: number
  queueDrops?: number
  asksPending?: number
  workDepth?: number
  redeliveries?: number
  deadLetters?: number
}

/** The operations behind the hub's routes. */
export interface HubOps {
  readonly backend: Backend
  createRun(id: string | undefined, meta: Record<string, unknown> | undefined): Promise<RunInfo>
  getRun(run: string): Promise<RunInfo>
  listRuns(status: RunStatus | undefined, limit: number): Promise<RunInfo[]>
  append(run: string, events: Array<{ type: string; data: unknown }>): Promise<RunEvent[]>
  end(run: string, end: RunEnd): Promise<RunEvent>
  sendInbox(run: string, type: string, data: unknown): Promise<InboxMessage>
  createAsk(run: string, spec: AskSpec): Promise<AskWire>
  getAsk(ask: string): Promise<AskWire>
  /** Resolves with the ask once it is no longer pending, or as it is after `ms`. */
  waitAsk(ask: string, ms: number, signal: AbortSignal): Promise<AskWire>
  listAsks(run: string, pendingOnly: boolean): Promise<AskWire[]>
  answer(ask: string, value: unknown, by: string | undefined): Promise<AskWire>
  publish(channel: string, data: unknown): Promise<void>
  /** Bus messages on channels matching `pattern`; `onMessage` gets the decoded data. */
  subscribe(
    pattern: string,
    listener: {
      onMessage(channel: string, data: unknown, ts: number): void
      onInterrupted?(info: { since: number; until: number }): void
    },
  ): Promise<Unsubscribe>
  stats(): Promise<CoreStats>
}
