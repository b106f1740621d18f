/**
 * Trusted tool approvals: the server decides, the client only answers an ask.
 *
 * In the AI SDK's own flow the approval lives in the message history the client sends back,
 * so a client can forge "approved" unless the app signs it. Here, when the model asks to run
 * a tool that needs approval (a `tool-approval-request` chunk), the server creates a `confirm`
 * ask on the run (every reader sees it; any tab or person allowed to answer may; the first
 * answer wins; an ask that times out is a denial), waits for its outcome, and writes the
 * `tool-approval-response` into the model messages itself before calling the model again.
 * The whole exchange is one run and one assistant message: its chunks, a `data-approval`
 * part per ask (updated in place as the ask is decided), and the tool's output or denial.
 */
import type { ModelMessage, UIMessageChunk } from 'ai'
import {
  AskExpiredError,
  AskTimeoutError,
  type Run,
  type RunEndStatus,
  type Runbus,
} from './api.js'
import { DEFAULT_HEARTBEAT_MS, startHeartbeat } from './liveness.js'
import { checkOptions, positiveMs } from './options.js'
import { pipeUIMessageStream, UI_CHUNK_TYPE, type PipeResult } from './ui-stream.js'

/** The chunk type of the approval parts (`data-approval`, a data part named `approval`). */
export const APPROVAL_CHUNK_TYPE = 'data-approval'

/**
 * The data of a `data-approval` part: one ask for one tool call, and where it stands.
 *
 * @example
 * ```ts
 * if (part.type === 'data-approval' && part.data.state === 'pending') showCard(part.data)
 * ```
 */
export interface ApprovalData {
  /** The ask to answer (`rb.asks.answer(ask, true | false)`, or the hub's answer route). */
  ask: string
  approvalId: string
  toolCallId: string
  toolName: string
  input: unknown
  prompt: string
  /** `pending`, then `approved`, `denied` (answered no), `expired` (timed out: denied) or `cancelled`. */
  state: 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled'
  /** Epoch ms after which the ask expires. */
  expiresAt?: number
}

/**
 * What one round of the model gives back: `streamText(…)`'s result fits.
 *
 * @example
 * ```ts
 * const round = (messages: ModelMessage[]) => streamText({ model, tools, messages, abortSignal: run.signal })
 * ```
 */
export interface ApprovalRound {
  toUIMessageStream(options?: {
    sendStart?: boolean
    sendFinish?: boolean
    generateMessageId?: () => string
  }): ReadableStream<UIMessageChunk>
  readonly response: PromiseLike<{ messages: ModelMessage[] }>
}

/**
 * Options of {@link pipeWithApprovals}.
 *
 * @example
 * ```ts
 * { runbus: rb, run, messages, round: (m) => streamText({ model, tools, messages: m, abortSignal: run.signal }), timeout: 120_000 }
 * ```
 */
export interface PipeWithApprovalsOptions {
  runbus: Runbus
  run: Run
  /** The conversation so far (the server's own record; see the docs on forged history). */
  messages: ModelMessage[]
  /** Calls the model once with these messages; pass `run.signal` as its `abortSignal`. */
  round: (messages: ModelMessage[]) => ApprovalRound
  /** How long an approval ask waits before it expires (a denial). Default 10 minutes. */
  timeout?: number
  /** The ask's prompt. Default: `Run <tool> with <input>?`. */
  prompt?: (call: { toolName: string; input: unknown }) => string
  /** Model calls at most (each approval round is one). Default 10. */
  maxRounds?: number
  /** The assistant message's id (the `start` chunk's `messageId`). */
  generateMessageId?: () => string
  heartbeatMs?: number
}

/**
 * What {@link pipeWithApprovals} resolves with.
 *
 * @example
 * ```ts
 * const { status, approvals } = await pipeWithApprovals({ … })
 * ```
 */
export interface ApprovalsResult extends PipeResult {
  /** Model calls made. */
  rounds: number
  /** Every approval decided, in order. */
  approvals: ApprovalData[]
  /** The model messages of the whole exchange (what to store as the conversation). */
  messages: ModelMessage[]
}

/**
 * Streams a model into a run, deciding tool approvals on the server through asks, and ends the
 * run. See the file comment for the flow.
 *
 * Gotchas: the client answers the ask (`rb.asks.answer`, or `POST /v1/asks/{ask}/answer` on a
 * hub), never the tool part; ignore approval states in messages a client sends back. An
 * interrupt (stop) while an ask waits cancels it and ends the run `cancelled`.
 *
 * @example
 * ```ts
 * void pipeWithApprovals({
 *   runbus: rb,
 *   run,
 *   messages: await convertToModelMessages(history),
 *   round: (messages) => streamText({ model, tools, messages, abortSignal: run.signal }),
 * })
 * return uiMessageStreamResponse(rb, run.id)
 * ```
 */
export async function pipeWithApprovals(
  options: PipeWithApprovalsOptions,
): Promise<ApprovalsResult> {
  checkOptions('pipeWithApprovals', options, [
    'runbus',
    'run',
    'messages',
    'round',
    'timeout',
    'prompt',
    'maxRounds',
    'generateMessageId',
    'heartbeatMs',
  ])
  const { runbus: rb, run } = options
  const timeout = positiveMs('timeout', options.timeout, 10 * 60_000)
  const heartbeatMs = positiveMs('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS)
  const maxRounds = options.maxRounds ?? 10
  const promptOf =
    options.prompt ??
    ((call: { toolName: string; input: unknown }) =>
      `Run ${call.toolName} with ${JSON.stringify(call.input)}?`)
  let messages = [...options.messages]
  const approvals: ApprovalData[] = []
  let chunks = 0
  let rounds = 0
  // Waiting for a person can take minutes: keep readers sure the producer is alive.
  const stopBeat = startHeartbeat(run, heartbeatMs)
  const finish = async (status: RunEndStatus, error?: unknown): Promise<ApprovalsResult> => {
    stopBeat()
    const end: { status: RunEndStatus; error?: string } = { status }
    if (error !== undefined) end.error = messageOf(error)
    await run.end(end)
    const out: ApprovalsResult = { chunks, status, rounds, approvals, messages }
    if (error !== undefined) out.error = error
    return out
  }
  try {
    for (;;) {
      const r = options.round(messages)
      rounds++
      const calls = new Map<string, { toolName: string; input: unknown }>()
      const requests: Array<{ approvalId: string; toolCallId: string }> = []
      let held: UIMessageChunk | undefined
      const streamOptions: { sendStart: boolean; generateMessageId?: () => string } = {
        sendStart: rounds === 1,
      }
      if (options.generateMessageId !== undefined) {
        streamOptions.generateMessageId = options.generateMessageId
      }
      const source = r.toUIMessageStream(streamOptions).pipeThrough(
        new TransformStream<UIMessageChunk, UIMessageChunk>({
          transform(chunk, controller) {
            // One message for the whole exchange: its `finish` waits for the last round.
            if (chunk.type === 'finish') return void (held = chunk)
            if (chunk.type === 'tool-input-available') {
              calls.set(chunk.toolCallId, { toolName: chunk.toolName, input: chunk.input })
            } else if (chunk.type === 'tool-approval-request') {
              requests.push({ approvalId: chunk.approvalId, toolCallId: chunk.toolCallId })
            }
            controller.enqueue(chunk)
          },
        }),
      )
      const piped = await pipeUIMessageStream(run, source, { end: false, heartbeatMs })
      chunks += piped.chunks
      if (piped.status !== 'completed') return await finish(piped.status, piped.error)
      if (requests.length === 0 || rounds >= maxRounds) {
        if (held !== undefined) {
          run.emit(UI_CHUNK_TYPE, held)
          chunks++
        }
        return await finish('completed')
      }
      const decided = await Promise.all(
        requests.map(async (req) => {
          const call = calls.get(req.toolCallId) ?? { toolName: 'unknown', input: null }
          const data = await decide(rb, run, req, call, promptOf(call), timeout)
          chunks += 2
          return data
        }),
      )
      approvals.push(...decided)
      if (run.signal.aborted) {
        run.emit(UI_CHUNK_TYPE, { type: 'abort' })
        chunks++
        return await finish('cancelled')
      }
      const response = await r.response
      messages = [
        ...messages,
        ...response.messages,
        {
          role: 'tool',
          content: decided.map((d) => ({
            type: 'tool-approval-response' as const,
            approvalId: d.approvalId,
            approved: d.state === 'approved',
            ...(d.state === 'approved' ? {} : { reason: `the approval was ${d.state}` }),
          })),
        },
      ]
    }
  } catch (err) {
    try {
      run.emit(UI_CHUNK_TYPE, { type: 'error', errorText: messageOf(err) })
    } catch {
      // The run is gone.
    }
    return finish(run.signal.aborted ? 'cancelled' : 'failed', err).catch(() => {
      stopBeat()
      throw err
    })
  }
}

async function decide(
  rb: Runbus,
  run: Run,
  req: { approvalId: string; toolCallId: string },
  call: { toolName: string; input: unknown },
  prompt: string,
  timeout: number,
): Promise<ApprovalData> {
  // The ask event must come after the chunks that led to it.
  await run.flush()
  const ask = await rb.asks.create(run.id, {
    kind: 'confirm',
    prompt,
    data: { approvalId: req.approvalId, toolCallId: req.toolCallId, ...call },
    timeout,
  })
  const data: ApprovalData = {
    ask: ask.id,
    approvalId: req.approvalId,
    toolCallId: req.toolCallId,
    toolName: call.toolName,
    input: call.input,
    prompt,
    state: 'pending',
  }
  if (ask.expiresAt !== undefined) data.expiresAt = ask.expiresAt
  run.emit(UI_CHUNK_TYPE, { type: APPROVAL_CHUNK_TYPE, id: ask.id, data: { ...data } })
  try {
    const answer = await rb.asks.wait(ask.id, { signal: run.signal })
    data.state = answer === true ? 'approved' : 'denied'
  } catch (err) {
    if (run.signal.aborted) data.state = 'cancelled'
    else if (err instanceof AskExpiredError || err instanceof AskTimeoutError)
      data.state = 'expired'
    else throw err
  }
  run.emit(UI_CHUNK_TYPE, { type: APPROVAL_CHUNK_TYPE, id: ask.id, data: { ...data } })
  return data
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message
  return typeof err === 'string' ? err : (JSON.stringify(err) ?? 'unknown error')
}
