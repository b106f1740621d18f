/**
 * What every part of the asks shares: the instance's context, its kv, the schema checks
 * (`schema-check.ts`), and reading an ask's record and outcome.
 */
import type { Context } from '../context.js'
import type { EventDraft, KeyValueStore } from '../contract/contract.js'
import { AskNotFoundError } from '../events/errors.js'
import { encodePayload } from '../events/codec.js'
import type { BusApi } from '../bus/bus.js'
import { createSchemaChecks } from './schema-check.js'
import { type AskRecord, type AskResult, askKey, resultKey } from './records.js'

/** The shared state of `rb.asks`. Internal. */
export class AskCore {
  /** The backend's kv, where records and outcomes live. */
  readonly kv: KeyValueStore
  /** Schema checks: held here, or asked of the holder over the bus. */
  readonly checks: ReturnType<typeof createSchemaChecks>

  constructor(
    readonly ctx: Context,
    bus: BusApi,
    verdictTimeoutMs: number,
  ) {
    this.kv = ctx.backend.kv
    this.checks = createSchemaChecks(bus, verdictTimeoutMs)
  }

  /** The ask's record; `AskNotFoundError` when there is none. */
  async load(id: string): Promise<AskRecord> {
    const raw = await this.kv.get(askKey(id))
    if (raw === undefined) throw new AskNotFoundError(id)
    return JSON.parse(raw) as AskRecord
  }

  /** The ask's outcome, if it was decided. */
  async loadResult(id: string): Promise<AskResult | undefined> {
    const raw = await this.kv.get(resultKey(id))
    return raw === undefined ? undefined : (JSON.parse(raw) as AskResult)
  }

  /** An event draft of `type` with `data`, size-checked. */
  draft(type: string, data: unknown): EventDraft {
    const { json } = encodePayload(data, this.ctx.maxPayloadBytes, `data of ${type}`)
    return { type, data, json, ts: Date.now() }
  }
}
