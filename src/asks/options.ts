/**
 * What the asks API takes, and the checks of it: the options of `run.ask()`,
 * `rb.asks.create()`, `rb.asks.answer()` and `rb.asks.wait()`, an answer against its
 * kind, and an answerer's name. Every refusal is an `InvalidArgumentError` (options) or a
 * `ValidationError` (an answer).
 */
import { InvalidArgumentError, ValidationError } from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { isStandardSchema, type StandardSchemaV1 } from '../events/schema.js'
import type { AskRecord } from './records.js'
import type { AskKind, AskOptions } from './types.js'

const KINDS: ReadonlySet<string> = new Set(['confirm', 'text', 'choice', 'form', 'human_as_model'])

/**
 * Who answers, as `rb.asks.answer` records it.
 *
 * @example
 * ```ts
 * await rb.asks.answer(id, true, { by: 'user:42', label: 'Ada' })
 * ```
 */
export interface AnswerOptions {
  /** Who answered (the hub passes its token's subject). At most 200 characters. */
  by?: string
  /** A label of the answerer's choosing, kept beside `by`. At most 200 characters. */
  label?: string
}

/**
 * Control, format and bidi-override characters (C0, C1, U+200B–U+200F, U+202A–U+202E,
 * U+2060–U+206F, U+FEFF): a name with them could be made to read as another on screen.
 */
// eslint-disable-next-line no-control-regex
const DISGUISING = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/u

/** Checks `by` / `label` of an answer: a short plain string. */
export function checkAnswerer(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > 200)
    throw new InvalidArgumentError(`${name} must be a string of 1 to 200 characters`)
  if (DISGUISING.test(value))
    throw new InvalidArgumentError(
      `${name} must not contain control, format or bidi-override characters`,
    )
  return value
}

/**
 * Options of `rb.asks.wait()`.
 *
 * @example
 * ```ts
 * await rb.asks.wait(askId, { timeout: 60_000, schema: FormSchema })
 * ```
 */
export interface AskWaitOptions {
  /** Stop waiting after this many ms (`TimeoutError`; the ask stays pending). */
  timeout?: number
  signal?: AbortSignal
  /** Re-register the ask's schema in this instance (after a restart). */
  schema?: StandardSchemaV1
}

const CREATE_OPTIONS = {
  kind: 'string',
  prompt: 'string',
  data: 'any',
  choices: 'array',
  schema: ['object', 'function'],
  timeout: 'number',
} as const
const ASK_OPTIONS = { ...CREATE_OPTIONS, signal: 'signal' } as const

/**
 * What `rb.asks.create()` takes: `run.ask()`'s options without `signal` (nobody waits).
 *
 * @example
 * ```ts
 * const spec: AskCreateOptions = { kind: 'confirm', prompt: 'Deploy?', timeout: 3_600_000 }
 * ```
 */
export type AskCreateOptions = Omit<AskOptions<AskKind, StandardSchemaV1 | undefined>, 'signal'>

/** Checks an answer against its ask's kind (the schema is checked apart); `ValidationError`. */
export function checkAnswer(rec: AskRecord, value: unknown): void {
  const issue = (message: string): never => {
    throw new ValidationError([{ message }], `answer to ask ${rec.id}`)
  }
  switch (rec.kind) {
    case 'confirm':
      if (typeof value !== 'boolean') issue('a confirm ask takes true or false')
      break
    case 'choice':
      if (typeof value !== 'string' || !(rec.choices ?? []).includes(value)) {
        issue(`the answer must be one of ${JSON.stringify(rec.choices ?? [])}`)
      }
      break
    case 'text':
    case 'human_as_model':
      if (typeof value !== 'string') issue(`a ${rec.kind} ask takes a string`)
      break
    case 'form':
      break
  }
}

/** Checks what `run.ask()` / `asks.create()` take; throws InvalidArgumentError. */
export function checkAsk(options: AskCreateOptions, where: 'ask' | 'asks.create'): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('ask options must be an object')
  }
  checkOptions(where, options, where === 'ask' ? ASK_OPTIONS : CREATE_OPTIONS)
  const { kind, prompt, choices, schema, timeout } = options
  if (!KINDS.has(kind)) throw new InvalidArgumentError(`unknown ask kind ${JSON.stringify(kind)}`)
  if (typeof prompt !== 'string') throw new InvalidArgumentError('prompt must be a string')
  if (
    kind === 'choice' &&
    (!Array.isArray(choices) ||
      choices.length === 0 ||
      !choices.every((c) => typeof c === 'string'))
  ) {
    throw new InvalidArgumentError('a choice ask needs choices: a non-empty array of strings')
  }
  if (timeout !== undefined && !(timeout >= 0 && Number.isFinite(timeout))) {
    throw new InvalidArgumentError('timeout must be a finite number >= 0')
  }
  if (schema !== undefined && !isStandardSchema(schema)) {
    throw new InvalidArgumentError('schema must implement Standard Schema v1')
  }
}
