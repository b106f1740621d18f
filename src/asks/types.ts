/**
 * The shapes of asks (human in the loop): what the agent asks, what the person answers,
 * and what the run log records about both.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { RunEvent } from '../events/envelope.js'

/**
 * What kind of answer an ask wants (see the example for each).
 *
 * @example
 * ```ts
 * await run.ask({ kind: 'confirm', prompt: 'Apply the patch?' }) // → boolean
 * ```
 *
 * - `confirm`: a boolean. `text`: a string. `choice`: one of `choices`.
 * - `form`: a value checked against `schema`.
 * - `human_as_model`: a string the person pastes in place of a model's completion.
 */
export type AskKind = 'confirm' | 'text' | 'choice' | 'form' | 'human_as_model'

/**
 * Where an ask stands: `pending` until the first valid answer (`answered`) or its expiry,
 * cancellation or the end of its run (`expired`). Never goes back.
 *
 * @example
 * ```ts
 * if ((await rb.asks.get(id)).state === 'pending') notify()
 * ```
 */
export type AskState = 'pending' | 'answered' | 'expired'

/**
 * The answer type of an ask: the schema's output, else what its kind implies.
 *
 * @example
 * ```ts
 * type A = AnswerOf<'confirm', undefined> // boolean
 * ```
 */
export type AnswerOf<K extends AskKind, S> = S extends StandardSchemaV1
  ? StandardSchemaV1.InferOutput<S>
  : K extends 'confirm'
    ? boolean
    : K extends 'form'
      ? unknown
      : string

/**
 * What `run.ask()` takes.
 *
 * Gotchas: without `timeout` the ask waits until answered, cancelled, or the run ends;
 * `choices` is required for `choice`; `schema` (any Standard Schema) is checked when the
 * answer is given, and its JSON Schema (when the validator offers one) is stored with the
 * ask so a UI in another process can render a form.
 *
 * @example
 * ```ts
 * await run.ask({ kind: 'choice', prompt: 'Which branch?', choices: ['main', 'dev'], timeout: 60_000 })
 * ```
 */
export interface AskOptions<
  K extends AskKind = AskKind,
  S extends StandardSchemaV1 | undefined = undefined,
> {
  kind: K
  /** What to show the person. */
  prompt: string
  /** Anything the UI needs to show with the prompt (a diff, a file list…). */
  data?: unknown
  /** The allowed answers of a `choice` ask. */
  choices?: readonly string[]
  /** Checks the answer (and types it). */
  schema?: S
  /** Milliseconds before the ask expires (`AskTimeoutError`, `ask_expired` event). */
  timeout?: number
  /** Cancels the wait; the ask expires with reason `cancelled`. Defaults to `run.signal`. */
  signal?: AbortSignal
}

/**
 * The data of an `ask` event in the run log: what a UI needs to show the question.
 *
 * @example
 * ```ts
 * if (e.type === 'ask') render(e.data as AskEventData)
 * ```
 */
export interface AskEventData {
  ask: string
  kind: AskKind
  prompt: string
  data?: unknown
  choices?: string[]
  /** Epoch ms after which answers are refused. */
  expiresAt?: number
  /** JSON Schema of the expected answer, when known. */
  schema?: Record<string, unknown>
}

/**
 * The data of an `answer` event in the run log.
 *
 * @example
 * ```ts
 * if (e.type === 'answer') console.log((e.data as AnswerEventData).by)
 * ```
 */
export interface AnswerEventData {
  ask: string
  answer: unknown
  /** Who answered: over HTTP, the token's subject (the hub records it, not the caller). */
  by?: string
  /** The answerer's own label (e.g. a person's name a shared token cannot tell). */
  label?: string
}

/**
 * Why an ask expired: its `timeout` passed, its waiter was cancelled (signal, interrupt), or
 * its run ended first.
 *
 * @example
 * ```ts
 * if (info.expiredReason === 'timeout') retryLater()
 * ```
 */
export type AskExpiryReason = 'timeout' | 'cancelled' | 'run_ended'

/**
 * The data of an `ask_expired` event in the run log.
 *
 * @example
 * ```ts
 * if (e.type === 'ask_expired') closeCard((e.data as AskExpiredEventData).ask)
 * ```
 */
export interface AskExpiredEventData {
  ask: string
  reason: AskExpiryReason
}

/**
 * One ask as `rb.asks.get()` and `pending()` report it.
 *
 * @example
 * ```ts
 * const a = await rb.asks.get(askId)
 * if (a.state === 'pending') showForm(a.prompt, a.schema)
 * ```
 */
export interface AskInfo {
  id: string
  run: string
  kind: AskKind
  prompt: string
  data?: unknown
  choices?: string[]
  schema?: Record<string, unknown>
  state: AskState
  answer?: unknown
  answeredBy?: string
  /** The label the answerer gave (`answer(id, value, { label })`), next to `answeredBy`. */
  answerLabel?: string
  /** When it was answered or expired. */
  decidedAt?: number
  expiredReason?: AskExpiryReason
  createdAt: number
  expiresAt?: number
  /** The id of the `ask` event in the run log. */
  eventId?: string
}

/** Internal: how a run handle asks (provided by the asks part). */
export type AskFn = (
  host: {
    readonly id: string
    readonly signal: AbortSignal
    appendReserved(type: string, data: unknown): Promise<RunEvent>
  },
  askId: string,
  options: AskOptions<AskKind, StandardSchemaV1 | undefined>,
) => Promise<unknown>
