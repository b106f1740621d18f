/**
 * The lease codec: a lease is `<entry id>/<delivery count>/<visibility ms>`. The pending
 * list says who holds an entry and its delivery count; a settle whose consumer or count no
 * longer match is stale (the job was redelivered) and is refused. Also decodes a claimed
 * stream entry into the job a handler gets.
 */
import { InvalidArgumentError } from '../../events/errors.js'
import type { ClaimedJob } from '../../contract/work-contract.js'

/** A decoded lease: the stream entry, its delivery count, the visibility timeout. */
export interface Lease {
  entry: string
  count: number
  visibilityMs: number
}

/** Decodes `<entry id>/<delivery count>/<visibility ms>`; anything else is refused. */
export function parseLease(lease: string): Lease {
  const a = lease.indexOf('/')
  const b = lease.indexOf('/', a + 1)
  const c = Number(lease.slice(a + 1, b))
  const v = Number(lease.slice(b + 1))
  if (a <= 0 || b < 0 || !Number.isInteger(c) || !(v > 0))
    throw new InvalidArgumentError(`not a work lease: ${JSON.stringify(lease)}`)
  return { entry: lease.slice(0, a), count: c, visibilityMs: v }
}

/** Whether stream id `a` (`<ms>-<seq>`) is before `b`, without splitting strings. */
export function idLess(a: string, b: string): boolean {
  const ia = a.indexOf('-')
  const ib = b.indexOf('-')
  if (ia !== ib) return ia < ib // more ms digits = later
  for (let i = 0; i < ia; i++) {
    const ca = a.charCodeAt(i)
    const cb = b.charCodeAt(i)
    if (ca !== cb) return ca < cb
  }
  return Number(a.slice(ia + 1)) < Number(b.slice(ib + 1))
}

/** A stream entry's flat field list. */
export type Fields = string[]

/** The job a claimed entry holds, with its lease (see the fields in `work.ts`). */
export function toClaimed(
  entry: string,
  fields: Fields,
  count: number,
  visibilityMs: number,
  redelivered: boolean,
): ClaimedJob {
  let id = entry
  let payload = ''
  let before = 0
  let first: number | undefined
  let lastError: string | undefined
  for (let i = 0; i < fields.length; i += 2) {
    const v = fields[i + 1]
    switch (fields[i]) {
      case 'p':
        payload = v
        break
      case 'j':
        id = v
        break
      case 'a':
        before = Number(v)
        break
      case 't':
        first = Number(v)
        break
      case 'e':
        lastError = v
        break
    }
  }
  const job: ClaimedJob = {
    id,
    payload,
    attempt: before + count,
    firstSeenAt: first ?? Number(entry.slice(0, entry.indexOf('-'))),
    redelivered,
    lease: `${entry}/${count}/${visibilityMs}`,
  }
  if (lastError !== undefined) job.lastError = lastError
  return job
}
