/**
 * The simulated agent behind `runbus demo` and the demo page's "Start a demo run" button.
 *
 * It talks to a hub over HTTP only, through `runbus/client`, exactly as an agent in another
 * process or language would: it creates a run, streams its thinking and its answer word by
 * word, calls tools (`tool_call` / `tool_result`), asks a person to act as the model
 * (`human_as_model`, seed 000 scenario 2), then asks to approve a code merge showing the
 * diff (`confirm`, scenario 1), waits for the answer with a long poll on the ask (so it is
 * not counted as one of the run's readers), applies or reverts, and ends the run. Steering
 * and interrupts come through the run's inbox, polled between steps; an interrupt cancels
 * the run at once, even in the middle of an ask.
 *
 * It writes the shapes runbus's own helpers write (so the console renders it like any
 * other agent): `status` `{ status, phase }`, `thinking` / `text` `{ text }` (a word each),
 * `tool_call` `{ id, name, args }`, `tool_result` `{ id, result, name, ok, ms }`, plus
 * `log` `{ level, message }`; the hub adds `ask`, `answer`, `ask_expired` and `end`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { InboxMessage, RunEndStatus } from '../events/envelope.js'
import { HubError } from '../events/errors.js'
import { createClient, type Client } from '../client/index.js'

/** Where the demo agent runs. */
/** How long a demo ask waits for a person before it expires (10 minutes). */
export const DEMO_ASK_TIMEOUT_MS = 10 * 60_000

export interface DemoAgentOptions {
  /** The hub's base URL, e.g. `http://127.0.0.1:8787`. */
  baseUrl: string
  /** A token with `write` scope (omit on an `--insecure` hub). */
  token?: string
  /** Run id to use; generated when absent. */
  runId?: string
  /** Speed factor: 1 = human-watchable pacing, larger = faster (tests use 50+). */
  speed?: number
  signal?: AbortSignal
}

/** The file the story is about, before the fix. */
const FILE_BEFORE = `export async function retry<T>(
  fn: () => Promise<T>,
  { attempts = 3, baseMs = 100 }: RetryOptions = {},
): Promise<T> {
  let lastError: unknown
  for (let attempt = 0; attempt <= attempts; attempt++) {
    try {
      return await fn()
    } catch (err) {
      lastError = err
      await sleep(baseMs * 2 ** attempt)
    }
  }
  throw lastError
}`

/** The fix the agent proposes when the person pastes nothing usable. */
const UNIFIED_DIFF = `--- a/src/retry.ts
+++ b/src/retry.ts
@@ -12,14 +12,14 @@ export async function retry<T>(
   fn: () => Promise<T>,
   { attempts = 3, baseMs = 100 }: RetryOptions = {},
 ): Promise<T> {
   let lastError: unknown
-  for (let attempt = 0; attempt <= attempts; attempt++) {
+  for (let attempt = 0; attempt < attempts; attempt++) {
     try {
       return await fn()
     } catch (err) {
       lastError = err
-      await sleep(baseMs * 2 ** attempt)
+      if (attempt < attempts - 1) await sleep(baseMs * 2 ** attempt)
     }
   }
   throw lastError
 }
--- a/test/retry.test.ts
+++ b/test/retry.test.ts
@@ -18,4 +18,11 @@ describe('retry', () => {
     await expect(retry(fn, { attempts: 2 })).resolves.toBe('ok')
   })
+
+  it('calls fn exactly \`attempts\` times when every call fails', async () => {
+    const fn = vi.fn().mockRejectedValue(new Error('nope'))
+    await expect(retry(fn, { attempts: 3, baseMs: 0 })).rejects.toThrow('nope')
+    expect(fn).toHaveBeenCalledTimes(3)
+  })
 })`

const INSTRUCTION = `You are a careful senior engineer. Fix the bug below and answer ONLY with SEARCH/REPLACE blocks.

Bug: retry() calls fn one time too many (attempts + 1) and sleeps after the last failure.

File src/retry.ts:
\`\`\`ts
${FILE_BEFORE}
\`\`\`

Format:
src/retry.ts
<<<<<<< SEARCH
(exact lines to find)
=======
(lines to put instead)
>>>>>>> REPLACE`

const TEST_OUTPUT_FAIL = ` FAIL  test/retry.test.ts > retry > calls fn exactly \`attempts\` times
AssertionError: expected "spy" to be called 3 times, but got 4 times
 ❯ test/retry.test.ts:24:16

 Test Files  1 failed (1)
      Tests  1 failed | 6 passed (7)`

const TEST_OUTPUT_PASS = ` ✓ test/retry.test.ts (7 tests) 12ms

 Test Files  1 passed (1)
      Tests  7 passed (7)`

/** Thrown inside the story when a person interrupts the run. */
class Interrupted extends Error {
  constructor(readonly reason: string) {
    super(`interrupted: ${reason}`)
  }
}

/** Pulls the SEARCH/REPLACE blocks out of what the person pasted, if any. */
function searchReplaceOf(text: string): string | undefined {
  const blocks = text.match(
    /(^[^\n]*\n)?<<<<<<< SEARCH\n[\s\S]*?\n=======\n[\s\S]*?\n>>>>>>> REPLACE/gm,
  )
  return blocks ? blocks.join('\n\n').trim() : undefined
}

function filesOf(diff: string): Array<{ path: string; additions: number; deletions: number }> {
  const files: Array<{ path: string; additions: number; deletions: number }> = []
  const lines = diff.split('\n')
  let current: { path: string; additions: number; deletions: number } | undefined
  let inReplace = false
  let inSearch = false
  lines.forEach((line, i) => {
    if (line.startsWith('+++ ')) {
      current = { path: line.slice(4).replace(/^b\//, ''), additions: 0, deletions: 0 }
      files.push(current)
    } else if (line === '<<<<<<< SEARCH') {
      const path = (lines[i - 1] ?? '').trim() || 'unknown'
      current = files.find((f) => f.path === path)
      if (!current) files.push((current = { path, additions: 0, deletions: 0 }))
      inSearch = true
    } else if (line === '=======' && inSearch) {
      inSearch = false
      inReplace = true
    } else if (line === '>>>>>>> REPLACE') {
      inReplace = false
    } else if (current && inSearch) current.deletions++
    else if (current && inReplace) current.additions++
    else if (current && line.startsWith('+')) current.additions++
    else if (current && line.startsWith('-') && !line.startsWith('---')) current.deletions++
  })
  return files
}

/**
 * Starts a simulated agent run; resolves once the run exists, `done` when it ended.
 *
 * `done` settles after the run's `end` was written (completed, or cancelled on an inbox
 * `interrupt` or an aborted `signal`); it rejects only when the hub could not be reached to
 * end the run. Nobody answering an ask keeps the run waiting (abort `signal` to give up).
 *
 * @example
 * ```ts
 * const { runId, done } = await startDemoAgent({ baseUrl: 'http://127.0.0.1:8787', token })
 * console.log(`open http://127.0.0.1:8787/?run=${runId}`)
 * await done
 * ```
 */
export async function startDemoAgent(
  options: DemoAgentOptions,
): Promise<{ runId: string; done: Promise<void> }> {
  const client = createClient(
    options.token === undefined
      ? { baseUrl: options.baseUrl }
      : { baseUrl: options.baseUrl, token: options.token },
  )
  const { run } = await client.createRun(
    {
      ...(options.runId !== undefined ? { id: options.runId } : {}),
      meta: {
        title: 'Fix the off-by-one in retry()',
        agent: 'runbus demo agent',
        repo: 'acme/api',
      },
    },
    options.signal ? { signal: options.signal } : {},
  )
  const agent = new DemoAgent(client, run.id, Math.max(0.01, options.speed ?? 1), options.signal)
  return { runId: run.id, done: agent.start() }
}

class DemoAgent {
  readonly #client: Client
  readonly #run: string
  readonly #speed: number
  /** Trips on an inbox interrupt or the caller's signal: every wait of the story watches it. */
  readonly #stop = new AbortController()
  readonly #steers: string[] = []
  #inboxAfter: string | undefined
  #toolSeq = 0

  constructor(client: Client, run: string, speed: number, signal: AbortSignal | undefined) {
    this.#client = client
    this.#run = run
    this.#speed = speed
    if (signal) {
      if (signal.aborted) this.#stop.abort(new Interrupted('the agent was stopped'))
      else
        signal.addEventListener(
          'abort',
          () => this.#stop.abort(new Interrupted('the agent was stopped')),
          { once: true },
        )
    }
  }

  async start(): Promise<void> {
    const inbox = this.#watchInbox()
    let end: { status: RunEndStatus; error?: string } = { status: 'completed' }
    try {
      await this.#story()
    } catch (err) {
      const reason = this.#stop.signal.reason as unknown
      if (reason instanceof Interrupted) {
        end = { status: 'cancelled', error: reason.reason }
        await this.#emit(
          'status',
          { phase: 'cancelled', status: `Stopped: ${reason.reason}.` },
          true,
        ).catch(() => undefined)
      } else {
        end = { status: 'failed', error: err instanceof Error ? err.message : String(err) }
      }
    } finally {
      if (!this.#stop.signal.aborted) this.#stop.abort(new Interrupted('the run ended'))
      await inbox
    }
    try {
      await this.#client.end(this.#run, end)
    } catch (err) {
      // Ended already (a person or another process ended it): nothing left to do.
      if (!(err instanceof HubError && err.code === 'run_ended')) throw err
    }
  }

  // ---- the story ----

  async #story(): Promise<void> {
    await this.#emit('status', { phase: 'planning', status: 'Reading the bug report' })
    await this.#say(
      'thinking',
      'The report says retry() calls the function one time too many. Before touching anything I want to see the loop and reproduce the failure with the existing tests.',
    )
    await this.#tool('read_file', { path: 'src/retry.ts' }, async () => FILE_BEFORE, 600)
    await this.#say(
      'thinking',
      'The loop runs while attempt <= attempts, so three attempts become four calls, and it sleeps after the final failure too. A regression test will pin it down.',
    )
    await this.#tool(
      'run_tests',
      { path: 'test/retry.test.ts' },
      async () => TEST_OUTPUT_FAIL,
      1400,
      false,
    )
    await this.#say(
      'text',
      'I reproduced it: 4 calls instead of 3. This demo runs without a model key, so I will ask you to be the model for the fix.',
    )

    await this.#emit('status', { phase: 'waiting', status: 'Waiting for the model (you)' })
    const pasted = await this.#ask<string>({
      kind: 'human_as_model',
      prompt:
        'Be the model: copy the instruction into a model of your choice (or answer it yourself) and paste the reply.',
      data: { instruction: INSTRUCTION, format: 'search_replace' },
    })
    const blocks = typeof pasted === 'string' ? searchReplaceOf(pasted) : undefined
    const diff = blocks ?? UNIFIED_DIFF
    await this.#say(
      'thinking',
      blocks
        ? 'The reply has SEARCH/REPLACE blocks; I will show them for review as they are.'
        : 'The reply has no SEARCH/REPLACE blocks, so I will propose my own patch with a regression test.',
    )
    for (const steer of this.#steers.splice(0)) {
      await this.#say('text', `Taking your note into account: “${steer}”.`)
    }

    await this.#emit('status', { phase: 'review', status: 'Waiting for approval to merge' })
    const files = filesOf(diff)
    const approved = await this.#ask<boolean>({
      kind: 'confirm',
      prompt: `Merge the fix into ${files.map((f) => f.path).join(' and ') || 'the working tree'}?`,
      data: { diff, format: blocks ? 'search_replace' : 'unified', files },
    })
    if (approved === true) {
      await this.#tool(
        'apply_patch',
        { files: files.map((f) => f.path) },
        async () => `applied ${files.length} file(s)`,
        500,
      )
      await this.#tool(
        'run_tests',
        { path: 'test/retry.test.ts' },
        async () => TEST_OUTPUT_PASS,
        1200,
      )
      await this.#say(
        'text',
        'Merged. All 7 tests pass, and retry() now calls fn exactly as many times as it is allowed to.',
      )
    } else {
      await this.#tool(
        'git_checkout',
        { paths: files.map((f) => f.path) },
        async () => 'working tree restored',
        400,
      )
      await this.#say('text', 'Understood, I reverted the change. The working tree is as it was.')
    }
    await this.#emit('status', {
      phase: 'done',
      status: approved === true ? 'Merged' : 'Reverted',
    })
  }

  // ---- building blocks ----

  #check(): void {
    if (this.#stop.signal.aborted) throw this.#stop.signal.reason
  }

  async #pause(ms: number): Promise<void> {
    this.#check()
    await this.#rest(ms / this.#speed)
    this.#check()
  }

  /** Waits `ms`, or less when the agent is stopped (never rejects). */
  #rest(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#stop.signal }).catch(() => undefined)
  }

  async #emit(type: string, data: unknown, evenIfStopped = false): Promise<void> {
    if (!evenIfStopped) this.#check()
    await this.#client.append(this.#run, { type, data })
  }

  /** Streams a sentence word by word, as a model's tokens would arrive. */
  async #say(type: 'thinking' | 'text', sentence: string): Promise<void> {
    const words = sentence.split(' ')
    for (let i = 0; i < words.length; i++) {
      await this.#emit(type, { text: (i === 0 ? '' : ' ') + words[i] })
      await this.#pause(45 + ((i * 37) % 50))
    }
    await this.#pause(250)
  }

  async #tool(
    name: string,
    args: Record<string, unknown>,
    work: () => Promise<string>,
    ms: number,
    ok = true,
  ): Promise<void> {
    const id = `call_${++this.#toolSeq}`
    await this.#emit('tool_call', { id, name, args })
    const started = Date.now()
    await this.#pause(ms)
    const output = await work()
    await this.#emit('tool_result', {
      id,
      result: output,
      name,
      ok,
      ms: Math.round(Date.now() - started),
    })
    await this.#pause(200)
  }

  /** Opens an ask (expiring after {@link DEMO_ASK_TIMEOUT_MS}) and long-polls its answer. */
  async #ask<T>(ask: { kind: string; prompt: string; data?: unknown }): Promise<T> {
    this.#check()
    // Bounded: an ask nobody answers expires, the run ends and its demo slot is free again.
    const created = await this.#client.ask(this.#run, { ...ask, timeout: DEMO_ASK_TIMEOUT_MS })
    const signal = this.#stop.signal
    for (;;) {
      let info
      try {
        info = await this.#client.getAsk(created.id, { wait: 30, signal })
      } catch (err) {
        this.#check()
        if (err instanceof HubError && err.status >= 400 && err.status < 500) throw err
        await this.#rest(250) // a blip: ask again shortly
        continue
      }
      this.#check()
      if (info.state === 'answered') return info.answer as T
      if (info.state !== 'pending') {
        const reason = typeof info.expiredReason === 'string' ? info.expiredReason : info.state
        throw new Error(`the ${ask.kind} ask expired (${reason})`)
      }
    }
  }

  /**
   * Long-polls the run's inbox until the story ends. An `interrupt` trips the stop signal; a
   * `steer` is kept for the next step. A hub that does not serve the inbox to HTTP agents
   * gets one `log` event saying so, and the story goes on without steering.
   */
  async #watchInbox(): Promise<void> {
    const signal = this.#stop.signal
    // Long-poll: the hub answers as soon as a message comes, so an interrupt lands at once.
    const wait = 10
    while (!signal.aborted) {
      let messages: InboxMessage[]
      try {
        messages = await this.#client.readInbox(
          this.#run,
          this.#inboxAfter !== undefined ? { after: this.#inboxAfter, wait } : { wait },
          { signal },
        )
      } catch (err) {
        if (signal.aborted) return
        const refused =
          err instanceof HubError &&
          err.status >= 400 &&
          err.status < 500 &&
          err.status !== 408 &&
          err.status !== 429
        if (refused) {
          // No inbox route on this hub, or a token without `write`: say so once, go on without.
          await this.#emit('log', {
            level: 'warn',
            message: `The agent cannot read its inbox here (${err.code}), so steer and interrupt are off.`,
          }).catch(() => undefined)
          return
        }
        await this.#rest(250) // a blip: try again shortly
        continue
      }
      for (const m of messages) {
        this.#inboxAfter = m.id
        const data = m.data as { text?: unknown; reason?: unknown } | string | null
        const text =
          typeof data === 'string' ? data : typeof data?.text === 'string' ? data.text : undefined
        if (m.type === 'interrupt') {
          const reason =
            typeof data === 'object' && typeof data?.reason === 'string'
              ? data.reason
              : (text ?? 'a person interrupted the run')
          this.#stop.abort(new Interrupted(reason))
          return
        }
        if (m.type === 'steer' && text) {
          this.#steers.push(text)
          await this.#emit('log', { level: 'info', message: `Steer received: ${text}` }).catch(
            () => undefined,
          )
        }
      }
    }
  }
}
