/**
 * Drives `test/fixtures/remote-appender.ts`: a child process that appends to runs by id, so
 * a test can append from ANOTHER process right after a follower said it is `ready`. One
 * child serves a whole test file (every key prefix), started on first use.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/remote-appender.ts')

/** A process appending to runs on one backend (one key prefix). */
export interface RemoteAppender {
  /** Appends one event of `type` to `runId` from the child; resolves with its id. */
  append(runId: string, type: string): Promise<string>
  /** Nothing to release per prefix (the child is the file's); for the suite's cleanup. */
  close(): Promise<void>
}

/** The child of a test file. */
export interface RemoteAppenders {
  /** An appender on the backend with key prefix `prefix`. */
  forPrefix(prefix: string): Promise<RemoteAppender>
  /** Ends the child (if started) and waits for it. */
  stop(): Promise<void>
}

/** A lazily started child (`redis` with a URL, `cluster` with `host:port,…`). */
export function remoteAppenders(mode: 'redis' | 'cluster', where: () => string): RemoteAppenders {
  let started: Promise<{ child: ChildProcess; send(line: string): Promise<string> }> | undefined
  const start = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode, where()], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const waiting: Array<(line: string) => void> = []
    createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(line))
    const nextLine = (ms: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('remote appender: no answer')), ms)
        waiting.push((l) => {
          clearTimeout(t)
          resolve(l)
        })
      })
    const first = await nextLine(60_000)
    if (first !== 'ready') throw new Error(`remote appender: ${first}`)
    let chain: Promise<unknown> = Promise.resolve()
    const send = (line: string): Promise<string> => {
      const p = chain.then(() => {
        const answer = nextLine(15_000)
        child.stdin.write(`${line}\n`)
        return answer
      })
      chain = p.catch(() => undefined)
      return p
    }
    return { child, send }
  }
  return {
    async forPrefix(prefix) {
      started ??= start()
      const child = await started
      return {
        async append(runId, type) {
          const line = await child.send(`${prefix} ${runId} ${type}`)
          if (!line.startsWith('ok ')) throw new Error(`remote append failed: ${line}`)
          return line.slice(3)
        },
        close: () => Promise.resolve(),
      }
    },
    async stop() {
      if (started === undefined) return
      const { child } = await started
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.stdin!.end()
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(t)
    },
  }
}
