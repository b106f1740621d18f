/**
 * Run operations the hub performs on runs it holds no handle for (an HTTP caller appending
 * to, ending or messaging a run by id), straight on the backend contract with the core's
 * codec and size limit, so they store exactly what `run.emit` would.
 */
import type { Backend, EventDraft, RunInfo } from '../contract/contract.js'
import type { InboxMessage, RunEnd, RunEvent, RunStatus } from '../events/envelope.js'
import { RunNotFoundError } from '../events/errors.js'
import { encodePayload } from '../events/codec.js'
import { newRunId } from '../events/ids.js'

/** Limits the run operations apply (the runbus instance's own, when it exposes them). */
export interface RunLimits {
  maxPayloadBytes: number
  maxEvents: number
  ttlMs: number
}

/** Run operations on the backend contract. */
export class BackendRunOps {
  constructor(
    readonly backend: Backend,
    readonly limits: RunLimits,
  ) {}

  createRun(id: string | undefined, meta: Record<string, unknown> | undefined): Promise<RunInfo> {
    return this.backend.runs.createRun({
      id: id ?? newRunId(),
      ...(meta !== undefined ? { meta } : {}),
      maxEvents: this.limits.maxEvents,
      ts: Date.now(),
    })
  }

  async getRun(run: string): Promise<RunInfo> {
    const info = await this.backend.runs.getRun(run)
    if (!info) throw new RunNotFoundError(run)
    return info
  }

  listRuns(status: RunStatus | undefined, limit: number): Promise<RunInfo[]> {
    return this.backend.runs.listRuns(status === undefined ? { limit } : { status, limit })
  }

  append(run: string, events: Array<{ type: string; data: unknown }>): Promise<RunEvent[]> {
    const ts = Date.now()
    const drafts: EventDraft[] = events.map((e) => ({
      type: e.type,
      data: e.data,
      json: encodePayload(e.data, this.limits.maxPayloadBytes, `event ${JSON.stringify(e.type)}`)
        .json,
      ts,
    }))
    return this.backend.runs.append(run, drafts)
  }

  end(run: string, end: RunEnd): Promise<RunEvent> {
    return this.backend.runs.endRun(run, end, Date.now(), this.limits.ttlMs)
  }

  sendInbox(run: string, type: string, data: unknown): Promise<InboxMessage> {
    const { json } = encodePayload(data, this.limits.maxPayloadBytes, 'inbox message')
    return this.backend.runs.sendInbox(run, { type, data, json, ts: Date.now() })
  }
}
