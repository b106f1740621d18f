/**
 * Run logs on Redis Streams.
 *
 * Keys of a run (one hash tag, so one Cluster slot):
 * - `<prefix>:{<run>}:meta`  hash: status, createdAt, endedAt, error, meta, max, seq, iseq
 * - `<prefix>:{<run>}:log`   stream, entry id `<seq>-0`, fields `t` (type), `d` (JSON), `ts`
 * - `<prefix>:{<run>}:inbox` stream, same layout, its own seq (`iseq`)
 *
 * The runs index `<prefix>:{~runs}:index` (sorted set by a global creation counter) lives
 * in its own slot, so it is updated by a separate command after the run's create script:
 * a crash between the two leaves a run that exists but is not listed. Runs whose keys
 * expired are dropped from the index lazily, when a listing meets them.
 *
 * Every write that must be atomic is one Lua script (see `lua/`); the stream id is `<seq>-0`,
 * so `read(afterSeq)` is one XRANGE from `<afterSeq + 1>-0`. Event ids are `eventIdOf(seq,
 * tag)` with the tag of the run's createdAt: each log entry carries it (field `e`), so the
 * shared reader, which sees only the stream, builds the same ids as `read`. Inbox ids stay
 * the plain seq.
 */
import type {
  EventDraft,
  LogListener,
  LogPage,
  RunInfo,
  RunInit,
  RunLogStore,
  Unsubscribe,
} from '../../contract/contract.js'
import type { InboxMessage, RunEnd, RunEvent, RunStatus } from '../../events/envelope.js'
import { eventIdOf, idOfSeq } from '../../events/envelope.js'
import {
  DecodeError,
  InvalidArgumentError,
  RunEndedError,
  RunNotFoundError,
} from '../../events/errors.js'
import { bounded } from './connection.js'
import type { RedisContext } from './context.js'
import {
  EpochTags,
  type LogReader,
  type RawEntry,
  decodeEntry,
  seqOfStreamId,
} from './log-reader.js'
import { runScripts } from './scripts.js'

const STATUSES: ReadonlySet<string> = new Set(['running', 'completed', 'failed', 'cancelled'])

function checkRunId(run: string): void {
  if (run.length === 0 || run.includes('{') || run.includes('}')) {
    throw new InvalidArgumentError(
      `run id ${JSON.stringify(run)} cannot be used on Redis (empty, or contains { or })`,
    )
  }
}

/** The Redis implementation of `RunLogStore`. */
export class RedisRunLog implements RunLogStore {
  private readonly ctx: RedisContext
  private readonly reader: LogReader
  private readonly scripts = runScripts()
  private readonly indexKey: string
  private readonly counterKey: string
  /** Inbox messages the inbox script trimmed for this process's sends. */
  private trimmedInbox = 0

  constructor(ctx: RedisContext, reader: LogReader) {
    this.ctx = ctx
    this.reader = reader
    this.indexKey = ctx.key('~runs', 'index')
    this.counterKey = ctx.key('~runs', 'counter')
  }

  private keys(run: string) {
    return {
      meta: this.ctx.key(run, 'meta'),
      log: this.ctx.key(run, 'log'),
      inbox: this.ctx.key(run, 'inbox'),
    }
  }

  private call<T>(what: string, fn: () => Promise<T>, run?: string): Promise<T> {
    return bounded(this.ctx.client, this.ctx.commandTimeoutMs, what, fn, run)
  }

  /** The id tag of a run's createdAt as a script returned it (the last one is kept). */
  private readonly tags = new EpochTags()

  async createRun(init: RunInit): Promise<RunInfo> {
    checkRunId(init.id)
    const k = this.keys(init.id)
    const metaJson = init.meta === undefined ? '' : JSON.stringify(init.meta)
    await this.call(
      'createRun',
      () =>
        this.scripts.create.run(
          this.ctx.client,
          [k.meta],
          [init.ts, init.maxEvents, metaJson, init.maxInboxMessages ?? init.maxEvents],
        ),
      init.id,
    )
    await this.call('createRun (index)', () =>
      this.scripts.indexRun.run(this.ctx.client, [this.indexKey, this.counterKey], [init.id]),
    )
    const info: RunInfo = {
      id: init.id,
      status: 'running',
      createdAt: init.ts,
      lastSeq: 0,
      firstSeq: 1,
      trimmed: 0,
    }
    if (init.meta !== undefined) info.meta = init.meta
    return info
  }

  async getRun(run: string): Promise<RunInfo | undefined> {
    if (run.includes('{') || run.includes('}') || run === '') return undefined
    const k = this.keys(run)
    const res = await this.call(
      'getRun',
      () => this.scripts.info.run(this.ctx.client, [k.meta, k.log], []),
      run,
    )
    return this.toInfo(run, res)
  }

  private toInfo(run: string, res: unknown): RunInfo | undefined {
    if (!Array.isArray(res)) return undefined
    const [flat, firstId] = res as [string[] | Record<string, string>, string]
    const h: Record<string, string> = {}
    if (Array.isArray(flat)) {
      for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]] = flat[i + 1]
    } else Object.assign(h, flat)
    const status = h.status
    if (status === undefined || !STATUSES.has(status)) return undefined
    const lastSeq = Number(h.seq ?? 0)
    const headSeq = firstId ? seqOfStreamId(firstId) : undefined
    const firstSeq = headSeq ?? lastSeq + 1
    const info: RunInfo = {
      id: run,
      status: status as RunStatus,
      createdAt: Number(h.createdAt),
      lastSeq,
      firstSeq,
      trimmed: Math.max(0, firstSeq - 1),
    }
    if (h.meta !== undefined) {
      try {
        info.meta = JSON.parse(h.meta) as Record<string, unknown>
      } catch {
        // A hand-edited meta: leave it out rather than fail the whole lookup.
      }
    }
    if (h.endedAt !== undefined) info.endedAt = Number(h.endedAt)
    if (h.error !== undefined) info.error = h.error
    return info
  }

  async listRuns(query: { status?: RunStatus; limit: number }): Promise<RunInfo[]> {
    const out: RunInfo[] = []
    if (query.limit <= 0) return out
    const page = Math.max(50, query.limit * 2)
    let start = 0
    for (;;) {
      const ids = await this.call('listRuns', () =>
        this.ctx.client.zrevrange(this.indexKey, start, start + page - 1),
      )
      if (ids.length === 0) break
      const infos = await Promise.all(
        ids.map((id) =>
          this.call(
            'listRuns (info)',
            () =>
              this.scripts.info.run(
                this.ctx.client,
                [this.ctx.key(id, 'meta'), this.ctx.key(id, 'log')],
                [],
              ),
            id,
          ).then((res) => this.toInfo(id, res)),
        ),
      )
      const gone: string[] = []
      for (let i = 0; i < ids.length; i++) {
        const info = infos[i]
        if (!info) {
          gone.push(ids[i])
          continue
        }
        if (query.status !== undefined && info.status !== query.status) continue
        out.push(info)
        if (out.length >= query.limit) break
      }
      if (gone.length > 0) {
        // Expired runs: drop them from the index (lazy cleanup).
        await this.call('listRuns (cleanup)', () => this.ctx.client.zrem(this.indexKey, ...gone))
        start -= gone.length
      }
      if (out.length >= query.limit || ids.length < page) break
      start += page
    }
    return out
  }

  async append(run: string, events: EventDraft[]): Promise<RunEvent[]> {
    checkRunId(run)
    if (events.length === 0) {
      const info = await this.getRun(run)
      if (!info) throw new RunNotFoundError(run)
      if (info.status !== 'running') throw new RunEndedError(run)
      return []
    }
    const k = this.keys(run)
    const args: (string | number)[] = new Array<string | number>(events.length * 3)
    for (let i = 0; i < events.length; i++) {
      const e = events[i]
      args[i * 3] = e.type
      args[i * 3 + 1] = e.json
      args[i * 3 + 2] = e.ts
    }
    const [firstText, createdText] = (await this.call(
      'append',
      () => this.scripts.append.run(this.ctx.client, [k.meta, k.log], args),
      run,
    )) as [number | string, string]
    const first = Number(firstText)
    const tag = this.tags.of(createdText)
    const out: RunEvent[] = new Array<RunEvent>(events.length)
    for (let i = 0; i < events.length; i++) {
      const e = events[i]
      const seq = first + i
      // Hand back what a reader will see (the JSON round trip), never the emitter's object.
      const data: unknown = JSON.parse(e.json)
      out[i] = { id: eventIdOf(seq, tag), run, seq, type: e.type, data, ts: e.ts }
    }
    return out
  }

  async endRun(run: string, end: RunEnd, ts: number, ttlMs: number): Promise<RunEvent<RunEnd>> {
    checkRunId(run)
    const k = this.keys(run)
    // A finite TTL expires the run (at least 1 ms later); Infinity keeps it.
    const ttl = Number.isFinite(ttlMs) ? Math.max(1, Math.ceil(ttlMs)) : -1
    const data: RunEnd =
      end.error === undefined ? { status: end.status } : { status: end.status, error: end.error }
    const [seqText, createdText] = (await this.call(
      'endRun',
      () =>
        this.scripts.end.run(
          this.ctx.client,
          [k.meta, k.log, k.inbox],
          [end.status, end.error ?? '', ts, JSON.stringify(data), ttl],
        ),
      run,
    )) as [number | string, string]
    const seq = Number(seqText)
    return { id: eventIdOf(seq, this.tags.of(createdText)), run, seq, type: 'end', data, ts }
  }

  async read(run: string, afterSeq: number, limit: number): Promise<LogPage> {
    checkRunId(run)
    const k = this.keys(run)
    const res = (await this.call(
      'read',
      () =>
        this.scripts.read.run(
          this.ctx.client,
          [k.meta, k.log],
          [`${Math.max(0, Math.floor(afterSeq)) + 1}-0`, Math.max(0, Math.floor(limit))],
        ),
      run,
    )) as [string, string, string, RawEntry[], string | undefined]
    const [status, seqText, firstId, entries, createdText] = res
    const lastSeq = Number(seqText)
    const firstSeq = (firstId ? seqOfStreamId(firstId) : undefined) ?? lastSeq + 1
    const events: RunEvent[] = []
    // Entries written before they carried `e` get the tag of the run the meta names (the
    // script read both at once).
    const tags = new EpochTags(this.tags.of(createdText))
    for (const entry of entries) {
      try {
        events.push(decodeEntry(run, entry, tags))
      } catch (err) {
        // Skip what is not runbus's; a read cannot report per entry, the follower does.
        if (!(err instanceof DecodeError)) throw err
      }
    }
    const page: LogPage = { events, firstSeq, lastSeq, ended: status !== 'running' }
    const epoch = Number(createdText)
    if (createdText && Number.isFinite(epoch)) page.epoch = epoch
    return page
  }

  async watch(run: string, listener: LogListener): Promise<Unsubscribe> {
    return this.follow(run, 'log', listener)
  }

  private async follow(
    run: string,
    which: 'log' | 'inbox',
    listener: LogListener,
  ): Promise<Unsubscribe> {
    checkRunId(run)
    const k = this.keys(run)
    const key = which === 'log' ? k.log : k.inbox
    // Start right after the stream's last entry now: whatever comes after is delivered.
    // (A run that does not exist yet is fine: its stream starts at 0-0.)
    const last = await this.call(
      'watch',
      () => this.ctx.client.xrevrange(key, '+', '-', 'COUNT', 1),
      run,
    )
    const lastId = last[0]?.[0] ?? '0-0'
    return this.reader.follow(key, run, run, lastId, listener)
  }

  /** Inbox messages trimmed by this process's sends (see `RunLogStore.inboxTrimmed`). */
  get inboxTrimmed(): number {
    return this.trimmedInbox
  }

  async sendInbox(run: string, draft: EventDraft): Promise<InboxMessage> {
    checkRunId(run)
    const k = this.keys(run)
    const [seqReply, trimmedReply] = (await this.call(
      'sendInbox',
      () =>
        this.scripts.inbox.run(
          this.ctx.client,
          [k.meta, k.inbox],
          [draft.type, draft.json, draft.ts],
        ),
      run,
    )) as [unknown, unknown]
    const seq = Number(seqReply)
    const trimmed = Number(trimmedReply)
    if (trimmed > 0) this.trimmedInbox += trimmed
    const data: unknown = JSON.parse(draft.json)
    return { id: idOfSeq(seq), run, seq, type: draft.type, data, ts: draft.ts }
  }

  async readInbox(run: string, afterSeq: number, limit: number): Promise<InboxMessage[]> {
    checkRunId(run)
    const k = this.keys(run)
    const res = (await this.call(
      'readInbox',
      () =>
        this.scripts.read.run(
          this.ctx.client,
          [k.meta, k.inbox],
          [`${Math.max(0, Math.floor(afterSeq)) + 1}-0`, Math.max(0, Math.floor(limit))],
        ),
      run,
    )) as [string, string, string, RawEntry[]]
    const out: InboxMessage[] = []
    const plain = new EpochTags()
    for (const entry of res[3]) {
      try {
        out.push(decodeEntry(run, entry, plain))
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err
      }
    }
    return out
  }

  async watchInbox(
    run: string,
    listener: { onMessages(messages: InboxMessage[]): void },
  ): Promise<Unsubscribe> {
    return this.follow(run, 'inbox', { onEvents: (events) => listener.onMessages(events) })
  }
}
