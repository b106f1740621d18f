/**
 * UI message streams through runs: stored one event per chunk, served in the AI SDK's SSE
 * format with ids, resumed at the exact chunk, ended clearly when the producer fails, is
 * interrupted or its history is gone.
 */
import { randomInt } from 'node:crypto'
import { readUIMessageStream, streamText, UI_MESSAGE_STREAM_HEADERS, type UIMessage } from 'ai'
import { afterEach, describe, expect, it } from 'vitest'
import { createRunbus, type Runbus } from '../../src/index.js'
import { epochTagOfId, eventIdOf } from '../../src/events/envelope.js'
import {
  pipeUIMessageStream,
  readUIMessageChunks,
  uiMessageStreamResponse,
  UI_CHUNK_TYPE,
} from '../../src/ai-sdk/index.js'
import { mockModel, numberedReply } from '../../examples/ai-sdk-chat/mock-model.js'
import { chunksOf, readFrames, streamOf, type Frame } from './sse.js'

async function finalMessage(
  stream: ReadableStream<import('ai').UIMessageChunk>,
): Promise<UIMessage> {
  let last: UIMessage | undefined
  for await (const m of readUIMessageStream({ stream, terminateOnError: true })) last = m
  if (last === undefined) throw new Error('no message')
  return last
}

function textOf(m: UIMessage): string {
  return m.parts.map((p) => (p.type === 'text' ? p.text : '')).join('')
}

describe('runbus/ai-sdk UI message streams', () => {
  let rb: Runbus
  afterEach(async () => {
    await rb.close()
    expect(rb.stats().followers).toBe(0)
  })

  async function answer(
    options: { words?: number; text?: string; chunkChars?: number; delayMs?: number } = {},
  ) {
    const run = await rb.runs.create()
    const result = streamText({
      model: mockModel({
        reply: () => options.text ?? numberedReply(options.words ?? 20),
        chunkChars: options.chunkChars ?? 3,
        delayMs: options.delayMs ?? 0,
      }),
      prompt: 'hi',
      abortSignal: run.signal,
    })
    const piped = pipeUIMessageStream(
      run,
      result.toUIMessageStream({ generateMessageId: () => 'msg-1' }),
    )
    return { run, piped }
  }

  it('stores one event per chunk and serves the AI SDK SSE format with ids', async () => {
    rb = createRunbus()
    const { run, piped } = await answer()
    const res = await uiMessageStreamResponse(rb, run.id)
    for (const [k, v] of Object.entries(UI_MESSAGE_STREAM_HEADERS))
      expect(res.headers.get(k)).toBe(v)
    expect(res.headers.get('x-runbus-run')).toBe(run.id)
    const frames = await readFrames(res)
    const { chunks, status } = await piped
    expect(status).toBe('completed')
    expect(frames.at(-1)).toEqual({ done: true })
    const data = frames.slice(0, -1) as Array<Extract<Frame, { id: string | undefined }>>
    expect(data).toHaveLength(chunks)
    expect(data.every((f) => typeof f.id === 'string')).toBe(true)
    const stored = (await rb.runs.read(run.id)).events.filter((e) => e.type === UI_CHUNK_TYPE)
    expect(stored.map((e) => e.id)).toEqual(data.map((f) => f.id))
    expect(stored.map((e) => e.data)).toEqual(data.map((f) => f.chunk))
    expect(data[0].chunk).toEqual({ type: 'start', messageId: 'msg-1' })
    const message = await finalMessage(streamOf(chunksOf(frames)))
    expect(textOf(message)).toBe(numberedReply(20))
  })

  it('many readers of a live answer each get every chunk once, the same bytes', async () => {
    rb = createRunbus()
    const { run, piped } = await answer({ words: 300, chunkChars: 2, delayMs: 1 })
    const readers = await Promise.all(
      Array.from({ length: 20 }, () => uiMessageStreamResponse(rb, run.id)),
    )
    const all = await Promise.all(readers.map((r) => readFrames(r)))
    const { chunks } = await piped
    const stored = (await rb.runs.read(run.id)).events.filter((e) => e.type === UI_CHUNK_TYPE)
    expect(stored).toHaveLength(chunks)
    for (const frames of all) {
      expect(frames.at(-1)).toEqual({ done: true })
      expect(frames.slice(0, -1)).toEqual(stored.map((e) => ({ id: e.id, chunk: e.data })))
    }
  })

  it('resumes after an id with exactly the chunks after it', async () => {
    rb = createRunbus()
    const { run, piped } = await answer()
    await piped
    const all = await readFrames(await uiMessageStreamResponse(rb, run.id))
    const cut = 7
    const at = all[cut - 1] as { id: string }
    const res = await uiMessageStreamResponse(rb, run.id, { after: at.id })
    expect(res.headers.get('x-runbus-resume')).toBe('continue')
    expect(await readFrames(res)).toEqual(all.slice(cut))
  })

  it('answers 204 for a run that does not exist (no stream to resume)', async () => {
    rb = createRunbus()
    const res = await uiMessageStreamResponse(rb, 'nope')
    expect(res.status).toBe(204)
  })

  it('a reader cut at 100 random points in a 2,000-chunk answer reassembles the same message', async () => {
    rb = createRunbus()
    // 1,994 one-character deltas + start, start-step, text-start, text-end, finish-step, finish.
    const text = Array.from({ length: 1_994 }, (_, i) => String(i % 10)).join('')
    const { run, piped } = await answer({ text, chunkChars: 1, delayMs: 1 })
    const uncut = readFrames(await uiMessageStreamResponse(rb, run.id))
    const cuts = new Set<number>()
    while (cuts.size < 100) cuts.add(randomInt(1, 2_000))
    const points = [...cuts].sort((a, b) => a - b)
    const got: Frame[] = []
    let after: string | undefined
    let reconnects = 0
    for (;;) {
      const next = points[reconnects]
      const res = await uiMessageStreamResponse(rb, run.id, { after })
      const frames = await readFrames(
        res,
        (fs) => next !== undefined && got.length + fs.length >= next,
      )
      got.push(...frames)
      const lastData = [...frames]
        .reverse()
        .find((f): f is Extract<Frame, { id: string | undefined }> => 'chunk' in f)
      if (lastData !== undefined) after = lastData.id
      if ('done' in (got.at(-1) ?? {})) break
      reconnects++
    }
    expect(reconnects).toBe(100)
    await piped
    const whole = await uncut
    expect(chunksOf(whole)).toHaveLength(2_000)
    expect(chunksOf(got)).toEqual(chunksOf(whole))
    const ids = got.flatMap((f) => ('id' in f && f.id !== undefined ? [f.id] : []))
    expect(new Set(ids).size).toBe(ids.length)
    const a = await finalMessage(streamOf(chunksOf(got)))
    const b = await finalMessage(streamOf(chunksOf(whole)))
    expect(a).toEqual(b)
    expect(textOf(a)).toBe(text)
  }, 120_000)

  it('an interrupt in the run’s inbox aborts streamText and ends the stream with abort', async () => {
    rb = createRunbus()
    const { run, piped } = await answer({ words: 5_000, delayMs: 2 })
    const res = await uiMessageStreamResponse(rb, run.id)
    const reading = readFrames(res)
    await expect
      .poll(async () => (await rb.runs.get(run.id)).events, { timeout: 20_000 })
      .toBeGreaterThan(5)
    await rb.runs.send(run.id, { type: 'interrupt' })
    const { status } = await piped
    expect(status).toBe('cancelled')
    const frames = await reading
    expect(frames.at(-1)).toEqual({ done: true })
    expect(chunksOf(frames).at(-1)?.type).toBe('abort')
    expect((await rb.runs.get(run.id)).status).toBe('cancelled')
    const message = await finalMessage(streamOf(chunksOf(frames)))
    expect(textOf(message).length).toBeLessThan(numberedReply(5_000).length)
  })

  it('a failing producer stores an error chunk and the run ends failed', async () => {
    rb = createRunbus()
    const run = await rb.runs.create()
    const source = new ReadableStream<import('ai').UIMessageChunk>({
      start(c) {
        c.enqueue({ type: 'start', messageId: 'm' })
        c.enqueue({ type: 'text-start', id: 't' })
        c.enqueue({ type: 'text-delta', id: 't', delta: 'par' })
        c.error(new Error('model fell over'))
      },
    })
    const result = await pipeUIMessageStream(run, source)
    expect(result.status).toBe('failed')
    const frames = await readFrames(await uiMessageStreamResponse(rb, run.id))
    expect(chunksOf(frames).at(-1)).toEqual({ type: 'error', errorText: 'model fell over' })
    expect(frames.at(-1)).toEqual({ done: true })
    expect((await rb.runs.get(run.id)).status).toBe('failed')
  })

  /** Every text part of the message once, and no part twice (by type and id). */
  function expectPartsOnce(m: UIMessage): void {
    const keys = m.parts.flatMap((p) =>
      'id' in p && typeof p.id === 'string' ? [`${p.type}:${p.id}`] : [],
    )
    expect(new Set(keys).size).toBe(keys.length)
  }

  it('a reader whose position was trimmed gets a clean restart from the first retained chunk', async () => {
    rb = createRunbus({ retention: { maxEvents: 20 } })
    const { run, piped } = await answer({ words: 40 })
    await piped
    const full = numberedReply(40)
    const retained = (await rb.runs.read(run.id)).events
    const retainedText = retained
      .filter((e) => e.type === UI_CHUNK_TYPE)
      .flatMap((e) => {
        const c = e.data as import('ai').UIMessageChunk
        return c.type === 'text-delta' ? [c.delta] : []
      })
      .join('')
    // A reconnect after a trimmed chunk, and a reload (no position) of the trimmed run.
    for (const after of ['2', undefined]) {
      const frames = await readFrames(await uiMessageStreamResponse(rb, run.id, { after }))
      const chunks = chunksOf(frames)
      expect(chunks[0]).toEqual({ type: 'start' })
      expect(chunks.some((c) => c.type === 'error')).toBe(false)
      // The restart's start carries the gap's id; synthetic part starts carry none.
      const first = frames[0] as { id: string }
      expect(first.id).toBe(eventIdOf(retained[0].seq - 1, epochTagOfId(retained[0].id)))
      expect(chunks[1]).toEqual({ type: 'text-start', id: expect.any(String) })
      expect((frames[1] as { id: string | undefined }).id).toBeUndefined()
      expect(frames.at(-1)).toEqual({ done: true })
      const message = await finalMessage(streamOf(chunks))
      expectPartsOnce(message)
      expect(message.parts.filter((p) => p.type === 'text')).toHaveLength(1)
      expect(textOf(message)).toBe(retainedText)
      expect(full.endsWith(retainedText)).toBe(true)
      // A cut right after the restart's start resumes after its id: the rest, as stored.
      const rest = await readFrames(await uiMessageStreamResponse(rb, run.id, { after: first.id }))
      expect(chunksOf(rest)).toEqual(
        retained.filter((e) => e.type === UI_CHUNK_TYPE).map((e) => e.data),
      )
    }
    const inProcess = await finalMessage(readUIMessageChunks(rb, run.id, { after: '2' }))
    expect(textOf(inProcess)).toBe(retainedText)
  })

  it('a restart leaves out chunks about a tool call whose beginning was trimmed', async () => {
    rb = createRunbus({ retention: { maxEvents: 8 } })
    const run = await rb.runs.create()
    const chunks: import('ai').UIMessageChunk[] = [
      { type: 'start', messageId: 'm' },
      { type: 'start-step' },
      { type: 'tool-input-start', toolCallId: 'c1', toolName: 'deploy' },
      { type: 'tool-input-delta', toolCallId: 'c1', inputTextDelta: '{"env":' },
      { type: 'tool-input-delta', toolCallId: 'c1', inputTextDelta: '"prod"}' },
      { type: 'tool-output-available', toolCallId: 'c1', output: { ok: true } },
      { type: 'finish-step' },
      { type: 'start-step' },
      { type: 'reasoning-delta', id: 'r1', delta: 'hm' },
      { type: 'reasoning-end', id: 'r1' },
      { type: 'text-end', id: 'gone' },
      { type: 'finish' },
    ]
    await pipeUIMessageStream(run, streamOf(chunks))
    const frames = await readFrames(await uiMessageStreamResponse(rb, run.id))
    expect(chunksOf(frames)).toEqual([
      { type: 'start' },
      // tool-output-available (c1 never opened here) and text-end ('gone') are left out
      { type: 'finish-step' },
      { type: 'start-step' },
      { type: 'reasoning-start', id: 'r1' },
      { type: 'reasoning-delta', id: 'r1', delta: 'hm' },
      { type: 'reasoning-end', id: 'r1' },
      { type: 'finish' },
    ])
    const message = await finalMessage(streamOf(chunksOf(frames)))
    expectPartsOnce(message)
    expect(message.parts.map((p) => p.type)).toEqual(['step-start', 'reasoning'])
  })

  it('a reader that falls behind past retention mid-answer gets an error chunk, never a splice', async () => {
    rb = createRunbus({ retention: { maxEvents: 10 }, follow: { bufferSize: 4 } })
    const run = await rb.runs.create()
    const res = await uiMessageStreamResponse(rb, run.id)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    run.emit(UI_CHUNK_TYPE, { type: 'start', messageId: 'm' })
    run.emit(UI_CHUNK_TYPE, { type: 'text-start', id: 't' })
    await run.flush()
    let text = ''
    while (!text.includes('text-start')) text += (await reader.read()).value ?? ''
    // The reader stops reading while 600 more chunks are stored (more than the feed's window
    // of recent events, 256 to 512); only the last 10 are kept.
    for (let i = 0; i < 600; i++) {
      run.emit(UI_CHUNK_TYPE, { type: 'text-delta', id: 't', delta: 'x' })
      await run.flush() // one append each: the reader's buffer (4) overflows
    }
    await run.end({ status: 'completed' })
    for (;;) {
      const r = await reader.read()
      if (r.done) break
      text += r.value
    }
    const tail = text.slice(text.indexOf('text-start'))
    expect(tail).toMatch(/"type":"error","errorText":"part of this answer is no longer retained/)
    expect(tail.trimEnd().endsWith('data: [DONE]')).toBe(true)
    expect(tail).not.toMatch(/"type":"start"/)
  })

  it('readUIMessageChunks gives the same chunks in-process', async () => {
    rb = createRunbus()
    const { run, piped } = await answer()
    const message = await finalMessage(readUIMessageChunks(rb, run.id))
    await piped
    expect(textOf(message)).toBe(numberedReply(20))
  })
})
