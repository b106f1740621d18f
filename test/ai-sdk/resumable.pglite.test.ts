/**
 * `runbus/ai-sdk` on PGlite (Postgres semantics, WASM, no server: `runbus serve`'s durable
 * default): the whole resumable-stream suite, and the UI message stream's store, exact
 * resume and clean restart. One PGlite for the file; each test gets a fresh schema.
 */
import { readUIMessageStream, type UIMessageChunk } from 'ai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { postgresBackend } from '../../src/backends/postgres/index.js'
import {
  pipeUIMessageStream,
  uiMessageStreamResponse,
  UI_CHUNK_TYPE,
} from '../../src/ai-sdk/index.js'
import { openPglite, type TestPglite } from '../helpers/postgres-pglite.js'
import { resumableSuite } from './resumable-suite.js'
import { chunksOf, readFrames, streamOf } from './sse.js'

describe('runbus/ai-sdk on PGlite', { timeout: 60_000 }, () => {
  let lite: TestPglite
  beforeAll(async () => {
    lite = await openPglite('memory')
  })
  afterAll(async () => {
    await lite?.close()
  })
  const fresh = async () => {
    const schema = await lite.schemas.acquire()
    return {
      backend: postgresBackend({ pglite: lite.db, schema }),
      cleanup: () => lite.schemas.release(schema),
    }
  }

  resumableSuite('pglite', fresh)

  const answer = (n: number): UIMessageChunk[] => [
    { type: 'start', messageId: 'm' },
    { type: 'start-step' },
    { type: 'text-start', id: 't' },
    ...Array.from({ length: n }, (_, i): UIMessageChunk => ({
      type: 'text-delta',
      id: 't',
      delta: `${i} `,
    })),
    { type: 'text-end', id: 't' },
    { type: 'finish-step' },
    { type: 'finish' },
  ]

  async function textOf(chunks: UIMessageChunk[]): Promise<string> {
    let text = ''
    for await (const m of readUIMessageStream({ stream: streamOf(chunks) })) {
      text = m.parts.map((p) => (p.type === 'text' ? p.text : '')).join('')
    }
    return text
  }

  it('UI message streams: stored, served with ids, resumed after an id exactly', async () => {
    const { backend, cleanup } = await fresh()
    const rb = createRunbus({ backend })
    try {
      const run = await rb.runs.create()
      const chunks = answer(50)
      expect((await pipeUIMessageStream(run, streamOf(chunks))).status).toBe('completed')
      const all = await readFrames(await uiMessageStreamResponse(rb, run.id))
      expect(chunksOf(all)).toEqual(chunks)
      const at = all[20] as { id: string }
      const rest = await readFrames(await uiMessageStreamResponse(rb, run.id, { after: at.id }))
      expect(rest).toEqual(all.slice(21))
    } finally {
      await rb.close()
      await backend.close()
      await cleanup()
    }
  })

  it('UI message streams: a trimmed position restarts the message cleanly', async () => {
    const { backend, cleanup } = await fresh()
    const rb = createRunbus({ backend, retention: { maxEvents: 20 } })
    try {
      const run = await rb.runs.create()
      await pipeUIMessageStream(run, streamOf(answer(50)))
      const { events } = await rb.runs.read(run.id)
      const retained = events
        .filter((e) => e.type === UI_CHUNK_TYPE)
        .map((e) => e.data as UIMessageChunk)
      const frames = await readFrames(await uiMessageStreamResponse(rb, run.id, { after: '2' }))
      const chunks = chunksOf(frames)
      expect(chunks.slice(0, 2)).toEqual([{ type: 'start' }, { type: 'text-start', id: 't' }])
      expect(chunks.slice(2)).toEqual(retained)
      const text = await textOf(chunks)
      expect(text).toBe(retained.map((c) => (c.type === 'text-delta' ? c.delta : '')).join(''))
      expect((await textOf(answer(50))).endsWith(text)).toBe(true)
    } finally {
      await rb.close()
      await backend.close()
      await cleanup()
    }
  })
})
