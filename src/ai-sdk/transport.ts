/**
 * A `ChatTransport` for the AI SDK's `Chat` / `useChat` that speaks to a server serving runs
 * with `uiMessageStreamResponse`: it remembers, per chat, the run and the id of the last chunk
 * it received, so `reconnectToStream` resumes after exactly that chunk (`Last-Event-ID`), and
 * its stop interrupts the run through its inbox, so the server's `streamText` aborts wherever
 * it runs, including after a resume (the AI SDK's own stop only closes the connection).
 *
 * No Node imports: it runs in browsers (bundled with your app) and in Node.
 */
import { createParser } from 'eventsource-parser'
import type { ChatTransport, UIMessage, UIMessageChunk } from 'ai'
import { InvalidArgumentError } from '../events/errors.js'

/** Headers (or a function giving them) sent with every request. */
type HeadersInput =
  Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>)

/**
 * Options of {@link RunbusChatTransport}.
 *
 * @example
 * ```ts
 * new RunbusChatTransport({ api: '/api/chat', headers: () => ({ authorization: `Bearer ${token}` }) })
 * ```
 */
export interface RunbusChatTransportOptions {
  /** The chat endpoint: `POST api` starts an answer, `GET api/<chatId>/stream` resumes, `POST api/<chatId>/stop` stops. Default `/api/chat`. */
  api?: string
  headers?: HeadersInput
  /** Extra JSON fields of the `POST` body (beside `id`, `messages`, `trigger`, `messageId`). */
  body?: Record<string, unknown>
  credentials?: RequestCredentials
  /** The `fetch` to use (tests, auth wrappers). Default `globalThis.fetch`. */
  fetch?: typeof fetch
}

/**
 * Where a chat's stream stands, as the transport knows it.
 *
 * @example
 * ```ts
 * transport.position(chatId) // { run: 'chat.c1.3', after: '<event id>', done: false }
 * ```
 */
export interface ChatPosition {
  /** The run of the latest answer. */
  run: string
  /** The id of the last chunk received, `undefined` before the first. */
  after: string | undefined
  /** Whether `[DONE]` was received. */
  done: boolean
}

interface ChatState extends ChatPosition {
  /** Bumped by each request of this chat: an abort of an older one is not a stop. */
  generation: number
  /** The id of the run's message (its `start` chunk's `messageId`), once seen. */
  messageId: string | undefined
}

/** Response headers set by `uiMessageStreamResponse` (see ui-stream.ts). */
const RUN_HEADER = 'x-runbus-run'

/**
 * A `ChatTransport` on runbus runs: exact resume and a stop that reaches the producer.
 *
 * Use it as `new Chat({ transport })` / `useChat({ transport, resume: true })`. Gotchas: the
 * server must serve the three routes of `api` (see the docs and `examples/ai-sdk-chat`); a
 * reload loses the position (it lives in memory), so the resume after a reload replays the
 * answer from its start, which the AI SDK rebuilds cleanly because this transport says
 * `resumeStreamIsReplay`.
 *
 * @example
 * ```ts
 * const chat = new Chat({ id: chatId, transport: new RunbusChatTransport({ api: '/api/chat' }) })
 * await chat.sendMessage({ text: 'hi' })
 * await chat.stop() // the server's streamText aborts (its abortSignal is run.signal)
 * ```
 */
export class RunbusChatTransport<
  UI_MESSAGE extends UIMessage = UIMessage,
> implements ChatTransport<UI_MESSAGE> {
  /** A resume without a position replays the answer from its `start`: the AI SDK resets first. */
  readonly resumeStreamIsReplay = true
  private readonly api: string
  private readonly options: RunbusChatTransportOptions
  private readonly chats = new Map<string, ChatState>()

  constructor(options: RunbusChatTransportOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!['api', 'headers', 'body', 'credentials', 'fetch'].includes(key)) {
        throw new InvalidArgumentError(`RunbusChatTransport: unknown option ${JSON.stringify(key)}`)
      }
    }
    this.options = options
    this.api = (options.api ?? '/api/chat').replace(/\/+$/, '')
  }

  /** Where the chat's stream stands, `undefined` when this transport never streamed it. */
  position(chatId: string): ChatPosition | undefined {
    const s = this.chats.get(chatId)
    return s === undefined ? undefined : { run: s.run, after: s.after, done: s.done }
  }

  /**
   * Interrupts the chat's current run (what an abort of `sendMessages` / `reconnectToStream`
   * does by itself). Resolves once the server accepted it.
   */
  async stop(chatId: string): Promise<void> {
    const s = this.chats.get(chatId)
    const res = await this.fetch(`${this.api}/${encodeURIComponent(chatId)}/stop`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await this.headers()) },
      body: JSON.stringify(s === undefined ? {} : { run: s.run }),
      credentials: this.options.credentials,
    })
    if (!res.ok && res.status !== 409)
      throw new Error(`stop failed: ${res.status} ${await res.text()}`)
  }

  async sendMessages(
    options: Parameters<ChatTransport<UI_MESSAGE>['sendMessages']>[0],
  ): Promise<ReadableStream<UIMessageChunk>> {
    const { chatId, abortSignal } = options
    const generation = this.bump(chatId)
    const res = await this.fetch(this.api, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(await this.headers()),
        ...headerRecord(options.headers),
      },
      body: JSON.stringify({
        ...this.options.body,
        ...(options.body as Record<string, unknown> | undefined),
        id: chatId,
        messages: options.messages,
        trigger: options.trigger,
        messageId: options.messageId,
      }),
      credentials: this.options.credentials,
      signal: abortSignal,
    })
    if (!res.ok || res.body === null) {
      throw new Error((await res.text()) || `the chat request failed (${res.status})`)
    }
    this.onStopped(chatId, generation, abortSignal)
    return this.chunks(chatId, generation, res)
  }

  async reconnectToStream(
    options: Parameters<ChatTransport<UI_MESSAGE>['reconnectToStream']>[0],
  ): Promise<ReadableStream<UIMessageChunk> | null> {
    const { chatId, abortSignal } = options
    const known = this.chats.get(chatId)
    const generation = this.bump(chatId)
    const headers: Record<string, string> = {
      ...(await this.headers()),
      ...headerRecord(options.headers),
    }
    if (known?.after !== undefined && !known.done) {
      headers['last-event-id'] = known.after
      headers[RUN_HEADER] = known.run
    }
    this.onStopped(chatId, generation, abortSignal)
    const res = await this.fetch(`${this.api}/${encodeURIComponent(chatId)}/stream`, {
      method: 'GET',
      headers,
      credentials: this.options.credentials,
      signal: abortSignal,
    })
    if (res.status === 204) return null
    if (!res.ok || res.body === null) {
      throw new Error((await res.text()) || `the resume request failed (${res.status})`)
    }
    return this.chunks(chatId, generation, res)
  }

  private bump(chatId: string): number {
    const s = this.chats.get(chatId)
    const generation = (s?.generation ?? 0) + 1
    this.chats.set(chatId, {
      run: s?.run ?? '',
      after: s?.after,
      done: s?.done ?? false,
      generation,
      messageId: s?.messageId,
    })
    return generation
  }

  /**
   * An abort of the request is a stop, unless a newer request of the same chat replaced it
   * (the AI SDK aborts a superseded resume, e.g. React StrictMode mounting twice): decide
   * after the tick in which the replacing request starts.
   */
  private onStopped(chatId: string, generation: number, signal: AbortSignal | undefined): void {
    if (signal === undefined) return
    const onAbort = (): void => {
      setTimeout(() => {
        const s = this.chats.get(chatId)
        if (s === undefined || s.generation !== generation || s.done || s.run === '') return
        this.stop(chatId).catch(() => undefined)
      }, 0)
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  }

  private chunks(
    chatId: string,
    generation: number,
    res: Response,
  ): ReadableStream<UIMessageChunk> {
    const run = res.headers.get(RUN_HEADER) ?? ''
    const state = this.chats.get(chatId)
    if (state !== undefined && state.generation === generation && state.run !== run) {
      state.run = run
      state.after = undefined
      state.done = false
      state.messageId = undefined
    }
    const track = (id: string | undefined, done: boolean): void => {
      const s = this.chats.get(chatId)
      if (s === undefined || s.run !== run) return
      if (id !== undefined && id !== '') s.after = id
      if (done) s.done = true
    }
    // A restarted message (its history was trimmed, see restart.ts) begins with a `start`
    // without a `messageId`: give it the id of the message this chat already shows, so the AI
    // SDK rebuilds that message in place instead of adding a second one.
    const named = (chunk: { messageId?: string }): void => {
      const s = this.chats.get(chatId)
      if (s === undefined || s.run !== run) return
      if (chunk.messageId === undefined) {
        if (s.messageId !== undefined) chunk.messageId = s.messageId
      } else s.messageId = chunk.messageId
    }
    const body = res.body!
    let parser: ReturnType<typeof createParser> | undefined
    return body.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream<string, UIMessageChunk>({
        start(controller) {
          parser = createParser({
            onEvent(e) {
              if (e.data === '[DONE]') return track(undefined, true)
              let chunk: UIMessageChunk
              try {
                chunk = JSON.parse(e.data) as UIMessageChunk
              } catch (err) {
                return controller.error(err)
              }
              track(e.id, false)
              if (chunk.type === 'start') named(chunk)
              controller.enqueue(chunk)
            },
          })
        },
        transform(text) {
          parser?.feed(text)
        },
      }),
    )
  }

  private fetch(url: string, init: RequestInit): Promise<Response> {
    return (this.options.fetch ?? globalThis.fetch)(url, init)
  }

  private async headers(): Promise<Record<string, string>> {
    const h = this.options.headers
    return typeof h === 'function' ? await h() : (h ?? {})
  }
}

function headerRecord(h: unknown): Record<string, string> {
  if (h === undefined || h === null) return {}
  if (h instanceof Headers) return Object.fromEntries(h.entries())
  return h as Record<string, string>
}
