/**
 * Creating an ask: the one way an ask comes to be, for `run.ask()` (appended through the
 * run's handle, ordered after its emits) and `rb.asks.create()` (appended on the backend
 * directly, its expiry and schema hold armed in this instance).
 */
import type { RunEvent } from '../events/envelope.js'
import { RunEndedError, RunNotFoundError } from '../events/errors.js'
import { encodePayload } from '../events/codec.js'
import { checkRunId, newAskId } from '../events/ids.js'
import { describeSchema } from '../events/schema.js'
import type { AskCore } from './core.js'
import type { AskExpiry } from './expiry.js'
import { type AskCreateOptions, checkAsk } from './options.js'
import { type AskRecord, OPEN_ASK_TTL_MS, askKey, info } from './records.js'
import type { AskEventData, AskInfo } from './types.js'

/**
 * The one way an ask comes to be (`run.ask()` and `asks.create()`): writes the record,
 * holds the schema (so checks can reach us before anyone sees the ask), appends the `ask`
 * event with `append`, and records the event id. Resolves with the record and the release
 * of the schema hold (the caller owns it). Options must have been checked.
 */
export async function createAsk(
  core: AskCore,
  runId: string,
  askId: string,
  options: AskCreateOptions,
  append: (type: string, data: unknown) => Promise<RunEvent>,
): Promise<{ rec: AskRecord; release: (() => void) | undefined }> {
  const { kind, prompt, data, choices, schema, timeout } = options
  const now = Date.now()
  const rec: AskRecord = {
    id: askId,
    run: runId,
    kind,
    prompt,
    createdAt: now,
    ttlMs: (timeout ?? OPEN_ASK_TTL_MS) + Math.max(core.ctx.ttlMs, 3_600_000),
  }
  if (data !== undefined) rec.data = data
  if (choices !== undefined) rec.choices = [...choices]
  if (timeout !== undefined) rec.expiresAt = now + timeout
  if (schema !== undefined) {
    rec.hasSchema = true
    const described = describeSchema(schema)
    if (described !== undefined) rec.schema = described
  }
  const ev: AskEventData = { ask: askId, kind, prompt }
  if (rec.data !== undefined) ev.data = rec.data
  if (rec.choices !== undefined) ev.choices = rec.choices
  if (rec.expiresAt !== undefined) ev.expiresAt = rec.expiresAt
  if (rec.schema !== undefined) ev.schema = rec.schema
  encodePayload(ev, core.ctx.maxPayloadBytes, 'ask')
  await core.kv.set(askKey(askId), JSON.stringify(rec), rec.ttlMs)
  // Reachable for checks before anyone can see the ask.
  const release = schema === undefined ? undefined : await core.checks.hold(askId, schema)
  try {
    let event: RunEvent
    try {
      event = await append('ask', ev)
    } catch (err) {
      await core.kv.delete(askKey(askId)).catch(() => undefined)
      throw err
    }
    rec.eventId = event.id
    await core.kv.set(askKey(askId), JSON.stringify(rec), rec.ttlMs)
    return { rec, release }
  } catch (err) {
    release?.()
    throw err
  }
}

/** `rb.asks.create()`: creates an ask on a running run, arms it here, does not wait. */
export async function createForRun(
  core: AskCore,
  expiry: AskExpiry,
  runId: string,
  options: AskCreateOptions,
): Promise<AskInfo> {
  core.ctx.checkOpen()
  checkRunId(runId)
  checkAsk(options, 'asks.create')
  const run = await core.ctx.backend.runs.getRun(runId)
  if (run === undefined) throw new RunNotFoundError(runId)
  if (run.status !== 'running') throw new RunEndedError(runId)
  const { rec, release } = await createAsk(core, runId, newAskId(), options, async (type, data) => {
    const [event] = await core.ctx.backend.runs.append(runId, [core.draft(type, data)])
    return event
  })
  expiry.arm(rec, release)
  return info(rec, undefined)
}
