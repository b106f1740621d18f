/** Small stream helpers for the ai-sdk tests (a writable test source, bounded reads). */

/** A readable source the test writes to by hand. */
export function testingStream(): {
  readable: ReadableStream<string>
  write(chunk: string): void
  close(): void
} {
  let controller!: ReadableStreamDefaultController<string>
  const readable = new ReadableStream<string>({
    start(c) {
      controller = c
    },
  })
  return {
    readable,
    write: (chunk) => controller.enqueue(chunk),
    close: () => controller.close(),
  }
}

const readers = new WeakMap<ReadableStream<string>, ReadableStreamDefaultReader<string>>()

/**
 * Reads `stream` to its end (or `maxReads` chunks) and joins the text; fails after `ms`
 * instead of hanging.
 */
export async function readText(
  stream: ReadableStream<string> | null | undefined,
  maxReads = Infinity,
  ms = 20_000,
): Promise<string> {
  if (stream === null || stream === undefined) throw new Error(`stream is ${String(stream)}`)
  let reader = readers.get(stream)
  if (reader === undefined) {
    reader = stream.getReader()
    readers.set(stream, reader)
  }
  const out: string[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out with ${JSON.stringify(out)}`)), ms)
  })
  try {
    for (let i = 0; i < maxReads; i++) {
      const r = await Promise.race([reader.read(), timeout])
      if (r.done) break
      out.push(r.value)
    }
  } finally {
    clearTimeout(timer)
  }
  return out.join('')
}
