/**
 * Listing pending asks: reads the run's log for `ask` events not followed by their
 * `answer` / `ask_expired` (O(retained events of that run); asks trimmed out of the log are
 * not listed, but can still be answered by id). Without a run: the running runs (up to
 * 1,000).
 */
import { RunNotFoundError } from '../events/errors.js'
import type { AskCore } from './core.js'
import { type AskRecord, askKey, info } from './records.js'
import type { AskInfo } from './types.js'

/** `rb.asks.pending()`. */
export async function pending(core: AskCore, options: { run?: string }): Promise<AskInfo[]> {
  core.ctx.checkOpen()
  const runIds =
    options.run !== undefined
      ? [options.run]
      : (await core.ctx.backend.runs.listRuns({ status: 'running', limit: 1000 })).map((r) => r.id)
  const out: AskInfo[] = []
  for (const run of runIds) {
    const open = new Set<string>()
    let after = 0
    for (;;) {
      let page
      try {
        page = await core.ctx.backend.runs.read(run, after, core.ctx.pageSize)
      } catch (err) {
        if (err instanceof RunNotFoundError && options.run === undefined) break
        throw err
      }
      for (const e of page.events) {
        const id = (e.data as { ask?: unknown } | null)?.ask
        if (typeof id !== 'string') continue
        if (e.type === 'ask') open.add(id)
        else if (e.type === 'answer' || e.type === 'ask_expired') open.delete(id)
      }
      if (page.events.length < core.ctx.pageSize) break
      after = page.events[page.events.length - 1].seq
    }
    for (const id of open) {
      const raw = await core.kv.get(askKey(id))
      if (raw === undefined) continue
      const a = info(JSON.parse(raw) as AskRecord, await core.loadResult(id))
      if (a.state === 'pending') out.push(a)
    }
  }
  return out
}
