/**
 * Answering an ask, and reading one: the first valid answer wins (`setIfAbsent` on the
 * outcome key decides between answers and expiries across processes); a late or second
 * answer is refused with a typed error; the answer passes the kind's check, then the ask's
 * schema where it is held.
 */
import { AskAnsweredError, AskExpiredError } from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { checkAskId } from '../events/ids.js'
import type { AskCore } from './core.js'
import type { AskExpiry } from './expiry.js'
import { type AnswerOptions, checkAnswer, checkAnswerer } from './options.js'
import { type AskResult, info, resultKey } from './records.js'
import type { AnswerEventData, AskInfo } from './types.js'

/** `rb.asks.answer()`. */
export async function answer(
  core: AskCore,
  expiry: AskExpiry,
  askId: string,
  value: unknown,
  options: AnswerOptions,
): Promise<AskInfo> {
  core.ctx.checkOpen()
  checkOptions('asks.answer', options, { by: 'string', label: 'string' })
  checkAskId(askId)
  const rec = await core.load(askId)
  let result = await core.loadResult(askId)
  if (result === undefined && rec.expiresAt !== undefined && rec.expiresAt <= Date.now()) {
    result = await expiry.expire(rec, 'timeout')
  }
  if (result === undefined) {
    const run = await core.ctx.backend.runs.getRun(rec.run)
    if (run === undefined || run.status !== 'running')
      result = await expiry.expire(rec, 'run_ended')
  }
  if (result !== undefined) {
    expiry.disarm(askId)
    if (result.state === 'answered') throw new AskAnsweredError(askId)
    throw new AskExpiredError(askId)
  }
  checkAnswer(rec, value)
  const answer = rec.hasSchema === true ? await core.checks.check(askId, value) : value
  const by = checkAnswerer('by', options.by)
  const label = checkAnswerer('label', options.label)
  const eventData: AnswerEventData = { ask: askId, answer }
  if (by !== undefined) eventData.by = by
  if (label !== undefined) eventData.label = label
  const d = core.draft('answer', eventData)
  const mine: AskResult = { state: 'answered', answer, at: Date.now() }
  if (by !== undefined) mine.by = by
  if (label !== undefined) mine.label = label
  const won = await core.kv.setIfAbsent(resultKey(askId), JSON.stringify(mine), rec.ttlMs)
  // Decided either way: release the expiry timer and schema hold `create` armed here.
  expiry.disarm(askId)
  if (!won) {
    const winner = await core.loadResult(askId)
    if (winner?.state === 'expired') throw new AskExpiredError(askId)
    throw new AskAnsweredError(askId)
  }
  await core.ctx.backend.runs.append(rec.run, [d])
  return info(rec, mine)
}

/** `rb.asks.get()`: the ask as it stands (an outcome seen here disarms it). */
export async function get(core: AskCore, expiry: AskExpiry, askId: string): Promise<AskInfo> {
  core.ctx.checkOpen()
  checkAskId(askId)
  const rec = await core.load(askId)
  const result = await core.loadResult(askId)
  if (result !== undefined) expiry.disarm(askId)
  return info(rec, result)
}
