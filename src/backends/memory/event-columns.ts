/**
 * The retained window of one in-process run log, kept as columns: a retained event holds no
 * object of its own but its data.
 *
 * Why columns, and why typed ones: every object and every pointer array the log keeps is
 * copied by the young-generation collector while it is young, and a growing array is copied
 * again at each growth. Only `datas` holds pointers (each event's data, shared with the
 * emitter or decoded once). The type (an index into the run's own table of type names), the
 * time and the charged size live in typed arrays, whose contents sit outside the collected
 * heap: growing them is one `memcpy`, and no collection ever walks them.
 *
 * Invariants: entry `head + i` (for `0 <= i < length`) is the `i`-th oldest retained event;
 * `datas` is exactly `end` long, with `undefined` below `head` (dropped data is released at
 * once); `bytes` is the sum of the retained entries' sizes. Dropping the oldest is O(1)
 * amortised: when the columns are full, a dead prefix of at least half of them is squeezed
 * out in place (after as many pushes as it moves), else they double.
 */

/** Columns start this long and double. */
const INITIAL = 16

/** The retained events of one run, oldest first. Internal to the memory backend. */
export class EventColumns {
  private typeIds: Uint32Array = new Uint32Array(INITIAL)
  private times: Float64Array = new Float64Array(INITIAL)
  private sizes: Float64Array = new Float64Array(INITIAL)
  private datas: unknown[] = []
  /** The run's type names, each stored once; `typeIds` index into it. */
  private readonly names: string[] = []
  private readonly idOfName = new Map<string, number>()
  /** The last type pushed and its id: a run's events mostly repeat their type. */
  private lastName: string | undefined = undefined
  private lastId = 0
  private head = 0
  private end = 0
  /** Bytes charged for the retained events (the sum of their sizes). */
  bytes = 0

  /** Events retained. */
  get length(): number {
    return this.end - this.head
  }

  /** Entries the columns have room for now (retained, dead prefix and free). */
  get capacity(): number {
    return this.times.length
  }

  /** Appends one event, charged `size` bytes. */
  push(type: string, data: unknown, ts: number, size: number): void {
    if (this.end === this.times.length) this.grow()
    const at = this.end++
    this.typeIds[at] = type === this.lastName ? this.lastId : this.idOf(type)
    this.times[at] = ts
    this.sizes[at] = size
    this.datas.push(data)
    this.bytes += size
  }

  /** Drops the `n` oldest events (at most `length`); returns the bytes they were charged. */
  dropOldest(n: number): number {
    const stop = this.head + Math.min(n, this.length)
    let freed = 0
    for (let i = this.head; i < stop; i++) {
      freed += this.sizes[i]
      this.datas[i] = undefined
    }
    this.head = stop
    this.bytes -= freed
    return freed
  }

  /** The type of the `i`-th oldest retained event. */
  typeAt(i: number): string {
    return this.names[this.typeIds[this.head + i]]
  }

  /** The data of the `i`-th oldest retained event. */
  dataAt(i: number): unknown {
    return this.datas[this.head + i]
  }

  /** The time of the `i`-th oldest retained event. */
  tsAt(i: number): number {
    return this.times[this.head + i]
  }

  private idOf(type: string): number {
    let id = this.idOfName.get(type)
    if (id === undefined) {
      id = this.names.length
      this.names.push(type)
      this.idOfName.set(type, id)
    }
    this.lastName = type
    this.lastId = id
    return id
  }

  /** Makes room for one more: squeezes out a dead prefix of half the columns or more, else doubles them. */
  private grow(): void {
    const live = this.length
    this.squeeze(live * 2 < this.times.length ? this.times.length : Math.max(INITIAL, live * 2))
  }

  /** Moves the live entries to the start of columns `capacity` long. */
  private squeeze(capacity: number): void {
    const { head, end } = this
    if (capacity === this.times.length) {
      this.typeIds.copyWithin(0, head, end)
      this.times.copyWithin(0, head, end)
      this.sizes.copyWithin(0, head, end)
    } else {
      this.typeIds = moved(new Uint32Array(capacity), this.typeIds, head, end)
      this.times = moved(new Float64Array(capacity), this.times, head, end)
      this.sizes = moved(new Float64Array(capacity), this.sizes, head, end)
    }
    if (head > 0) this.datas = this.datas.slice(head)
    this.end = end - head
    this.head = 0
  }
}

/** `to`, holding `from[head..end)` at its start. */
function moved<T extends Uint32Array | Float64Array>(to: T, from: T, head: number, end: number): T {
  to.set(from.subarray(head, end))
  return to
}
