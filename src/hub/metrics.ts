/**
 * Prometheus metrics of one hub, on a registry of its own (never prom-client's global
 * default: two hubs in one process, or a host app with its own metrics, must not collide).
 * Gauges are computed when scraped (collect callbacks), so they cost nothing between scrapes.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Gauges and counters the metrics endpoint pulls from the runbus instance at scrape time. */
export interface CoreStats {
  /** Running runs in the backend (every process's, up to 1,000). */
  runs?: number
  subscribers?: number
  queueDrops?: number
  /** Pending asks of running runs (with or without a timeout). */
  asksPending?: number
  workDepth?: number
  redeliveries?: number
  deadLetters?: number
  /** Inbox messages trimmed to `retention.maxInboxMessages` by this process's sends. */
  inboxTrimmed?: number
  /** `gap` events delivered to followers in this process (history that was trimmed). */
  gaps?: number
  /** Emit batches the backend refused in this process. */
  emitFailures?: number
}

/** What the hub's gauges read at scrape time. */
export interface MetricsSources {
  readers(): number
  runFeeds(): number
  busSubscribers(): number
  framesOut(): number
  cuts(): number
  /** Refusals so far, by reason (budgets, quota, connection caps): nothing refused silently. */
  refusals(): Record<string, number>
  core(): Promise<CoreStats>
}

/** The hub's metrics. */
export class HubMetrics {
  readonly registry = new Registry()
  readonly requests: Counter<'route' | 'method' | 'status'>
  readonly eventsIn: Counter
  readonly runsCreated: Counter
  readonly asksAnswered: Counter
  readonly published: Counter
  readonly duration: Histogram<'route'>

  constructor(src: MetricsSources) {
    const registers = [this.registry]
    this.requests = new Counter({
      name: 'runbus_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    })
    this.duration = new Histogram({
      name: 'runbus_http_request_duration_seconds',
      help: 'Time to answer non-streaming HTTP requests',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    })
    this.eventsIn = new Counter({
      name: 'runbus_events_in_total',
      help: 'Run events appended through this hub',
      registers,
    })
    this.runsCreated = new Counter({
      name: 'runbus_runs_created_total',
      help: 'Runs created through this hub',
      registers,
    })
    this.asksAnswered = new Counter({
      name: 'runbus_asks_answered_total',
      help: 'Asks answered through this hub',
      registers,
    })
    this.published = new Counter({
      name: 'runbus_bus_published_total',
      help: 'Bus messages published through this hub',
      registers,
    })
    new Counter({
      name: 'runbus_events_out_total',
      help: 'Frames (events, gaps, ends, bus messages) written to stream readers',
      registers,
      collect() {
        this.reset()
        this.inc(src.framesOut())
      },
    })
    new Counter({
      name: 'runbus_slow_reader_cuts_total',
      help: 'Stream connections cut because the reader fell behind past its limit',
      registers,
      collect() {
        this.reset()
        this.inc(src.cuts())
      },
    })
    new Counter({
      name: 'runbus_refused_total',
      help: 'Requests and writes refused by a limit, by reason (run_bytes, inbox_bytes, quota, runs_abandoned, connections_global, connections_address, connections_subject)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset()
        for (const [reason, n] of Object.entries(src.refusals())) this.inc({ reason }, n)
      },
    })
    new Gauge({
      name: 'runbus_readers',
      help: 'SSE/NDJSON connections following runs on this hub process',
      registers,
      collect() {
        this.set(src.readers())
      },
    })
    new Gauge({
      name: 'runbus_run_feeds',
      help: 'Runs with a shared backend follower on this hub process',
      registers,
      collect() {
        this.set(src.runFeeds())
      },
    })
    new Gauge({
      name: 'runbus_bus_stream_subscribers',
      help: 'SSE/NDJSON connections following bus channels on this hub process',
      registers,
      collect() {
        this.set(src.busSubscribers())
      },
    })
    // One core read per scrape, shared by the gauges below.
    let cached: { at: number; p: Promise<CoreStats> } | undefined
    const coreStats = (): Promise<CoreStats> => {
      const now = Date.now()
      if (!cached || now - cached.at > 250) {
        cached = { at: now, p: src.core().catch(() => ({})) }
      }
      return cached.p
    }
    // A gauge reads the core's number as is; a counter (losses this process counted since it
    // opened) is reset to it, so a rate() shows each one.
    const fromCore = (
      name: string,
      help: string,
      pick: (s: CoreStats) => number | undefined,
      kind: 'gauge' | 'counter' = 'gauge',
    ): void => {
      const read = async (): Promise<number | undefined> => {
        const v = pick(await coreStats())
        return v !== undefined && Number.isFinite(v) ? v : undefined
      }
      if (kind === 'gauge') {
        new Gauge({
          name,
          help,
          registers,
          async collect() {
            const v = await read()
            if (v !== undefined) this.set(v)
          },
        })
      } else {
        new Counter({
          name,
          help,
          registers,
          async collect() {
            const v = await read()
            this.reset()
            if (v !== undefined) this.inc(v)
          },
        })
      }
    }
    fromCore('runbus_runs', 'Running runs in the backend (up to 1,000)', (s) => s.runs)
    fromCore(
      'runbus_subscribers',
      'Live followers and bus subscriptions in the core',
      (s) => s.subscribers,
    )
    fromCore(
      'runbus_queue_drops',
      'Events dropped by bounded queues (followers falling back to the log)',
      (s) => s.queueDrops,
    )
    fromCore(
      'runbus_asks_pending',
      'Asks of running runs waiting for an answer',
      (s) => s.asksPending,
    )
    fromCore('runbus_work_queue_depth', 'Jobs waiting in work queues', (s) => s.workDepth)
    fromCore(
      'runbus_work_redeliveries',
      'Jobs redelivered after a consumer lost its lease',
      (s) => s.redeliveries,
    )
    fromCore('runbus_work_dead_letters', 'Jobs moved to a dead-letter queue', (s) => s.deadLetters)
    fromCore(
      'runbus_inbox_trimmed_total',
      'Inbox messages trimmed (oldest first) to retention.maxInboxMessages by sends of this process',
      (s) => s.inboxTrimmed,
      'counter',
    )
    fromCore(
      'runbus_gaps_total',
      'Gap events delivered to followers in this process (history trimmed before they read it)',
      (s) => s.gaps,
      'counter',
    )
    fromCore(
      'runbus_emit_failures_total',
      'Emit batches the backend refused in this process',
      (s) => s.emitFailures,
      'counter',
    )
  }

  /** The Prometheus text exposition. */
  async text(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType }
  }
}
