import { describe, expect, it } from 'vitest'
import type { StreamSink } from './sink.js'
import { StallWatch } from './stall.js'

function fakeSink(): StreamSink & { writes: Uint8Array[]; aborts: number; queued: number } {
  const s = {
    writes: [] as Uint8Array[],
    aborts: 0,
    queued: 0,
    closed: false,
    get queuedBytes() {
      return s.queued
    },
    write(chunk: Uint8Array) {
      if (!s.closed) s.writes.push(chunk)
    },
    waitDrain: () => Promise.resolve(),
    end() {
      s.closed = true
    },
    abort() {
      s.aborts++
      s.closed = true
    },
    onClose() {},
  }
  return s
}

const PING = new Uint8Array([10])

describe('StallWatch (the slow-reader cut)', () => {
  it('cuts a reader held back through a whole keep-alive period, once, and counts it', () => {
    const sink = fakeSink()
    const stats = { cuts: 0 }
    const w = new StallWatch(sink, stats)
    w.hold()
    expect(w.tick(PING)).toBe(false) // held at this tick: not a whole period yet
    expect(sink.writes).toEqual([]) // no ping into a full socket
    expect(w.tick(PING)).toBe(true)
    expect(w.tick(PING)).toBe(false)
    expect(stats.cuts).toBe(1)
    expect(sink.aborts).toBe(1)
  })

  it('a reader that drained in between starts the period again; a free one gets its ping', () => {
    const sink = fakeSink()
    const stats = { cuts: 0 }
    const w = new StallWatch(sink, stats)
    w.hold()
    w.tick(PING)
    w.resume()
    w.hold()
    expect(w.tick(PING)).toBe(false)
    w.resume()
    expect(w.tick(PING)).toBe(false)
    expect(sink.writes).toEqual([PING])
    expect(stats.cuts).toBe(0)
  })

  it('with a hard limit, cuts past it after a write or a ping; without one, never on bytes alone', () => {
    const stats = { cuts: 0 }
    const hard = fakeSink()
    const w = new StallWatch(hard, stats, 100)
    hard.queued = 100
    expect(w.overLimit()).toBe(false)
    hard.queued = 101
    expect(w.overLimit()).toBe(true)
    expect(stats.cuts).toBe(1)
    const paced = fakeSink()
    paced.queued = 1e9
    const p = new StallWatch(paced, stats)
    expect(p.overLimit()).toBe(false)
    expect(p.tick(PING)).toBe(false)
    expect(stats.cuts).toBe(1)
    const atPing = fakeSink()
    atPing.queued = 101
    expect(new StallWatch(atPing, stats, 100).tick(PING)).toBe(true)
    expect(stats.cuts).toBe(2)
  })
})
