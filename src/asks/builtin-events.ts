/**
 * The data of the event types runbus's own helpers write (`run.text()`, `run.status()`,
 * `run.ask()`…), as one map, and a type guard that narrows an event to one of them, so
 * `ev.data.ask` compiles under `strict` without a cast:
 *
 * ```ts
 * for await (const ev of follow) if (isEvent(ev, 'ask')) await hub.answer(ev.data.ask, true)
 * ```
 *
 * Events of other types (your own) keep `data: unknown`.
 */
import type { GapData, RunEnd, RunEvent } from '../events/envelope.js'
import type { AnswerEventData, AskEventData, AskExpiredEventData } from './types.js'

/** `run.text(t)` and `run.thinking(t)`: `{ text }`. */
export interface TextData {
  text: string
}

/** `run.status(s)`: `{ status }`. */
export interface StatusData {
  status: string
}

/** `run.toolCall(name, args, id?)`: `{ id, name, args }` (`args` is `null` when absent). */
export interface ToolCallData {
  id: string
  name: string
  args: unknown
}

/** `run.toolResult(id, result)`: `{ id, result }` (`result` is `null` when absent). */
export interface ToolResultData {
  id: string
  result: unknown
}

/** `run.error(err)`: `{ message, name?, code? }` (a recoverable error; the run goes on). */
export interface ErrorData {
  message: string
  name?: string
  code?: string
}

/**
 * The data of each built-in event type, by type.
 *
 * @example
 * ```ts
 * const d: BuiltinEventData['tool_call'] = { id: 'call_1', name: 'search', args: { q: 'x' } }
 * ```
 */
export interface BuiltinEventData {
  text: TextData
  thinking: TextData
  status: StatusData
  tool_call: ToolCallData
  tool_result: ToolResultData
  error: ErrorData
  ask: AskEventData
  answer: AnswerEventData
  ask_expired: AskExpiredEventData
  end: RunEnd
  gap: GapData
}

/**
 * An event of a built-in type with its data typed.
 *
 * @example
 * ```ts
 * function label(ev: BuiltinEvent<'status'>): string { return ev.data.status }
 * ```
 */
export type BuiltinEvent<T extends keyof BuiltinEventData = keyof BuiltinEventData> = {
  [K in T]: RunEvent<BuiltinEventData[K]> & { readonly type: K }
}[T]

/**
 * Narrows an event to a built-in type (checks `ev.type` only: the data is trusted to have
 * the shape runbus's helpers write).
 *
 * @example
 * ```ts
 * if (isEvent(ev, 'tool_result')) show(ev.data.id, ev.data.result)
 * ```
 */
export function isEvent<T extends keyof BuiltinEventData>(
  ev: RunEvent,
  type: T,
): ev is BuiltinEvent<T> {
  return ev.type === type
}
