/**
 * resumable-stream's documented behaviours, as our own tests, for any backend: the same
 * calls an app makes, the same return contract.
 */
import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it as vitestIt } from 'vitest'
import { createRunbus, type Backend, type Runbus } from '../../src/index.js'
import {
  createResumableStreamContext,
  type ResumableStreamContext,
} from '../../src/ai-sdk/index.js'
import { readText, testingStream } from './streams.js'

/**
 * A backend for one test: a plain one (the caller closes it, as the Redis helper does), or one
 * with a `cleanup` the suite calls after closing it (a schema handed back to its pool).
 */
export type SuiteBackend = Backend | { backend: Backend; cleanup: () => Promise<void> }

/** Options of {@link resumableSuite}. */
export interface ResumableSuiteOptions {
  /** Run only the behaviours with these titles (a cheap pass on a slow backend). */
  only?: readonly string[]
}

export function resumableSuite(
  name: string,
  backend: () => SuiteBackend | Promise<SuiteBackend>,
  options: ResumableSuiteOptions = {},
): void {
  describe(`createResumableStreamContext on ${name}`, () => {
    let rb: Runbus | undefined
    let owned: { backend: Backend; cleanup: () => Promise<void> } | undefined
    let prefix = ''
    const fresh = async (): Promise<ResumableStreamContext> => {
      const b = await backend()
      owned = 'cleanup' in b ? b : undefined
      rb = createRunbus({ backend: 'cleanup' in b ? b.backend : b })
      prefix = `t-${randomUUID()}`
      return createResumableStreamContext({ runbus: rb, waitUntil: null, keyPrefix: prefix })
    }
    afterEach(async () => {
      await rb?.close()
      expect(rb?.stats().followers).toBe(0)
      rb = undefined
      if (owned !== undefined) {
        await owned.backend.close()
        await owned.cleanup()
        owned = undefined
      }
    })
    const it = (title: string, fn: () => Promise<void>): void => {
      if (options.only === undefined || options.only.includes(title)) vitestIt(title, fn)
    }

    it('acts like a normal stream', async () => {
      const ctx = await fresh()
      const src = testingStream()
      const stream = await ctx.resumableStream('test', () => src.readable)
      src.write('1\n')
      src.write('2\n')
      src.write('3\n')
      src.close()
      expect(await readText(stream)).toBe('1\n2\n3\n')
    })

    it('resumes a stream that completes, read in either order', async () => {
      const ctx = await fresh()
      const src = testingStream()
      const stream = await ctx.resumableStream('test', () => src.readable)
      const stream2 = await ctx.resumableStream('test', () => {
        throw new Error('never called: the stream exists')
      })
      src.write('1\n')
      src.write('2\n')
      src.close()
      expect(await readText(stream2)).toBe('1\n2\n')
      expect(await readText(stream)).toBe('1\n2\n')
    })

    it('hasExistingStream goes null → true → "DONE"', async () => {
      const ctx = await fresh()
      const src = testingStream()
      expect(await ctx.hasExistingStream('test')).toBe(null)
      const stream = await ctx.resumableStream('test', () => src.readable)
      expect(await ctx.hasExistingStream('test')).toBe(true)
      expect(await ctx.hasExistingStream('test2')).toBe(null)
      const stream2 = await ctx.resumableStream('test', () => src.readable)
      expect(await ctx.hasExistingStream('test')).toBe(true)
      src.write('1\n')
      src.write('2\n')
      src.close()
      expect(await readText(stream)).toBe('1\n2\n')
      expect(await readText(stream2)).toBe('1\n2\n')
      expect(await ctx.hasExistingStream('test')).toBe('DONE')
    })

    it('resumes an in-progress stream with its history, then live', async () => {
      const ctx = await fresh()
      const src = testingStream()
      const stream = await ctx.resumableStream('test', () => src.readable)
      src.write('1\n')
      expect(await readText(stream, 1)).toBe('1\n')
      const stream2 = await ctx.resumeExistingStream('test')
      expect(await readText(stream2, 1)).toBe('1\n')
      src.write('2\n')
      expect(await readText(stream2, 1)).toBe('2\n')
      src.close()
      expect(await readText(stream)).toBe('2\n')
      expect(await readText(stream2)).toBe('')
    })

    it('serves many resumes of one stream', async () => {
      const ctx = await fresh()
      const src = testingStream()
      const stream = await ctx.resumableStream('test', () => src.readable)
      src.write('1\n')
      const resumed = await Promise.all(
        Array.from({ length: 20 }, () => ctx.resumeExistingStream('test')),
      )
      src.write('2\n')
      src.close()
      expect(await readText(stream)).toBe('1\n2\n')
      for (const r of resumed) expect(await readText(r)).toBe('1\n2\n')
    })

    it('keeps streams with different ids apart', async () => {
      const ctx = await fresh()
      const a = testingStream()
      const b = testingStream()
      const s1 = await ctx.resumableStream('test', () => a.readable)
      const s2 = await ctx.resumableStream('test2', () => b.readable)
      const s12 = await ctx.resumableStream('test', () => a.readable)
      const s22 = await ctx.resumableStream('test2', () => b.readable)
      a.write('1\n')
      b.write('writer2\n')
      a.write('2\n')
      a.close()
      b.close()
      expect(await readText(s1)).toBe('1\n2\n')
      expect(await readText(s2)).toBe('writer2\n')
      expect(await readText(s12)).toBe('1\n2\n')
      expect(await readText(s22)).toBe('writer2\n')
    })

    it('skips characters on resume (0, part of the content, all of it)', async () => {
      const ctx = await fresh()
      const src = testingStream()
      const stream = await ctx.resumableStream('test', () => src.readable)
      const skip2 = await ctx.resumableStream('test', () => src.readable, 2)
      const skip0 = await ctx.resumeExistingStream('test', 0)
      const skip3 = await ctx.resumeExistingStream('test', 3)
      const skipAll = await ctx.resumeExistingStream('test', 4)
      src.write('1\n')
      src.write('2\n')
      src.close()
      expect(await readText(stream)).toBe('1\n2\n')
      expect(await readText(skip2)).toBe('2\n')
      expect(await readText(skip0)).toBe('1\n2\n')
      expect(await readText(skip3)).toBe('\n')
      expect(await readText(skipAll)).toBe('')
    })

    it('gives null for a done stream (and never calls makeStream)', async () => {
      const ctx = await fresh()
      const src = testingStream()
      const stream = await ctx.resumableStream('test', () => src.readable)
      src.write('1\n')
      src.write('2\n')
      src.close()
      expect(await readText(stream)).toBe('1\n2\n')
      await expect.poll(() => ctx.hasExistingStream('test'), { timeout: 20_000 }).toBe('DONE')
      expect(
        await ctx.resumableStream('test', () => {
          throw new Error('never called')
        }),
      ).toBeNull()
    })

    it('supports the split APIs: createNewResumableStream + resumeExistingStream', async () => {
      const ctx = await fresh()
      const src = testingStream()
      expect(await ctx.resumeExistingStream('test')).toBeUndefined()
      const stream = await ctx.createNewResumableStream('test', () => src.readable)
      const stream2 = await ctx.resumeExistingStream('test')
      src.write('1\n')
      src.write('2\n')
      src.close()
      expect(await readText(stream)).toBe('1\n2\n')
      expect(await readText(stream2)).toBe('1\n2\n')
      await expect.poll(() => ctx.hasExistingStream('test'), { timeout: 20_000 }).toBe('DONE')
      expect(await ctx.resumeExistingStream('test')).toBeNull()
    })

    it('goes on storing when the producer’s own reader leaves', async () => {
      const ctx = await fresh()
      const src = testingStream()
      const stream = await ctx.resumableStream('test', () => src.readable)
      const reader = stream!.getReader()
      src.write('1\n')
      expect((await reader.read()).value).toBe('1\n')
      await reader.cancel()
      src.write('2\n')
      src.close()
      await expect.poll(() => ctx.hasExistingStream('test'), { timeout: 20_000 }).toBe('DONE')
      const page = await rb!.runs.read(`${prefix}:test`)
      expect(page.events.filter((e) => e.type === 'ai.text').map((e) => e.data)).toEqual([
        '1\n',
        '2\n',
      ])
    })
  })
}
