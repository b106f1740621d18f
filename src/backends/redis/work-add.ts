/**
 * Adding jobs: plain jobs are one pipelined XADD each (the entry id is the job id); jobs
 * with an idempotency key or a delay go through the work-add script.
 */
import {
  DEFAULT_IDEMPOTENCY_TTL_MS,
  type WorkAddOptions,
  type WorkAddResult,
  type WorkJobDraft,
} from '../../contract/work-contract.js'
import { mapError } from './connection.js'
import type { WorkCore } from './work-core.js'

/** Largest XADD pipeline chunk for plain adds. */
const ADD_CHUNK = 1000

let genCounter = 0
const genPrefix = Math.random().toString(36).slice(2, 8)

/** Adds `jobs` to `queue`; duplicates of an idempotency key are reported, not added. */
export async function add(
  core: WorkCore,
  queue: string,
  jobs: WorkJobDraft[],
  options?: WorkAddOptions,
): Promise<WorkAddResult> {
  await core.ready()
  const st = core.q(queue)
  const client = core.client
  if (jobs.length === 0) return { ids: [], duplicates: [] }
  const plain = jobs.every((j) => j.id === undefined && !(j.delayMs !== undefined && j.delayMs > 0))
  try {
    if (plain) {
      // The hot path: one XADD per job, pipelined; the entry id is the job id.
      const ids: string[] = []
      for (let i = 0; i < jobs.length; i += ADD_CHUNK) {
        const pipe = client.pipeline()
        for (const j of jobs.slice(i, i + ADD_CHUNK)) pipe.xadd(st.keys.stream, '*', 'p', j.payload)
        const res = await pipe.exec()
        for (const [err, id] of res ?? []) {
          if (err) throw err
          ids.push(id as string)
        }
      }
      return { ids, duplicates: [] }
    }
    const args: Array<string | number> = [
      Date.now(),
      options?.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS,
    ]
    for (const j of jobs) {
      const delayed = j.delayMs !== undefined && j.delayMs > 0
      // A delayed job has no entry id yet to name it: give it one now.
      const id = j.id ?? (delayed ? `${genPrefix}-${(++genCounter).toString(36)}` : '')
      args.push(id, j.id === undefined ? '0' : '1', j.payload, delayed ? Math.ceil(j.delayMs!) : 0)
    }
    const k = st.keys
    const res = (await core.s.add.run(
      client,
      [k.stream, k.delayed, k.delayedData, k.idPrefix],
      args,
    )) as string[]
    const ids: string[] = []
    const duplicates: string[] = []
    for (let i = 0; i < res.length; i += 2) {
      ids.push(res[i])
      if (res[i + 1] === '1') duplicates.push(res[i])
    }
    if (jobs.some((j) => j.delayMs !== undefined && j.delayMs > 0)) {
      const soonest = Math.min(...jobs.map((j) => (j.delayMs ? Date.now() + j.delayMs : Infinity)))
      st.nextPromoteAt = Math.min(st.nextPromoteAt, soonest)
    }
    return { ids, duplicates }
  } catch (err) {
    throw mapError(err, 'work add')
  }
}
