/**
 * Connections and bounded calls.
 *
 * Every call runbus makes to Redis goes through `bounded()`: it waits for the connection
 * to be ready (at most the command timeout), sends the command, and turns every way a call
 * can fail for want of Redis (refused, dropped, timed out) into `BackendUnavailableError`
 * within `commandTimeoutMs`. Nothing hangs forever.
 *
 * The connections runbus opens itself have the offline queue off: a command is only
 * written once the connection is ready, so a call rejected while Redis was down was never
 * sent and cannot be applied later behind the caller's back. (A command already written
 * when the connection drops may or may not have been applied; the error says so.)
 */
import { backoffDelay, type Backoff } from '../../events/jitter.js'
import { setTimeout as delay } from 'node:timers/promises'
import { withDeadline } from '../../events/deadline.js'
import { Redis, type RedisOptions } from 'ioredis'
import {
  BackendUnavailableError,
  RunEndedError,
  RunExistsError,
  RunNotFoundError,
  RunbusError,
} from '../../events/errors.js'
import type { RedisConnection } from './context.js'

/** The back-off of Redis reconnects: the first within 100 ms, capped at 2 s. */
export const REDIS_RECONNECT_BACKOFF: Backoff = Object.freeze({ initialMs: 100, maxMs: 2_000 })

/**
 * The wait before ioredis's reconnect number `times` (1 for the first, the numbering of
 * `backoffDelay`): the one back-off, with a 10 ms floor so a flapping server is never
 * hammered in a tight loop.
 */
export function reconnectDelay(times: number): number {
  return Math.max(10, backoffDelay(times, REDIS_RECONNECT_BACKOFF))
}

/** ioredis options for the connections runbus opens itself. */
export function ownOptions(commandTimeoutMs: number, name: string): RedisOptions {
  return {
    commandTimeout: commandTimeoutMs,
    enableOfflineQueue: false,
    // A command written and not yet answered when the connection drops is never resent
    // (autoResendUnfulfilledCommands: false: it may have been applied). With 0 retries
    // ioredis rejects it as soon as the connection closes; with more it keeps it until a
    // later drop, and a quick reconnect left it unanswered until the command timeout.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: reconnectDelay,
    connectionName: name,
  }
}

/** Opens a single-node connection from a `redis://` URL with runbus's options. */
export function openClient(url: string, commandTimeoutMs: number, name: string): Redis {
  const client = new Redis(url, ownOptions(commandTimeoutMs, name))
  // ioredis reports connection errors as events; the calls report them to their callers.
  client.on('error', () => {})
  return client
}

/** Whether `client` is a Redis Cluster client. */
export function isCluster(client: RedisConnection): boolean {
  return client.isCluster
}

/**
 * One wait for readiness per connection, shared by every caller waiting on it: a single
 * `ready`/`end` listener pair, however many calls wait while Redis is away (a listener per
 * call tripped Node's leak warning at 11 and grew with the callers). It settles, and its
 * listeners go, on the next `ready` (resolved) or `end` (rejected); each caller bounds its
 * own wait with `withDeadline`.
 */
const readiness = new WeakMap<RedisConnection, Promise<void>>()

const connectionClosed = (): BackendUnavailableError =>
  new BackendUnavailableError('the Redis connection was closed')

function nextReady(client: RedisConnection): Promise<void> {
  let wait = readiness.get(client)
  if (wait === undefined) {
    wait = new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        client.off('ready', onReady)
        client.off('end', onEnd)
        readiness.delete(client)
        if (err) reject(err)
        else resolve()
      }
      const onReady = () => settle()
      const onEnd = () => settle(connectionClosed())
      client.on('ready', onReady)
      client.on('end', onEnd)
    })
    // Every caller races it with a deadline of its own; none may be left to reject unseen.
    wait.catch(() => {})
    readiness.set(client, wait)
  }
  return wait
}

/** Resolves when `client` is ready, or rejects after `ms` (or once it ended). */
export function whenReady(client: RedisConnection, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  if (client.status === 'end') return Promise.reject(connectionClosed())
  const wait = nextReady(client)
  // A client made with `lazyConnect` waits for a first command or connect(): start it.
  if (client.status === 'wait') client.connect().catch(() => {})
  return withDeadline(wait, {
    ms,
    onTimeout: () => new BackendUnavailableError(`Redis was not reachable within ${ms} ms`),
  })
}

const UNAVAILABLE =
  /Command timed out|Connection is closed|Stream isn't writeable|MaxRetriesPerRequest|Reached the max retries|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|Socket closed|Socket timeout|CLUSTERDOWN|TRYAGAIN|LOADING|Failed to refresh slots cache|None of startup nodes is available|Cluster isn't ready/

/** Maps a failure from ioredis or a runbus Lua script to the runbus error it means. */
export function mapError(err: unknown, what: string, run?: string): unknown {
  if (err instanceof RunbusError) return err
  if (!(err instanceof Error)) return err
  const msg = err.message
  if (msg.includes('RUNBUS_RUN_NOT_FOUND')) return new RunNotFoundError(run ?? '')
  if (msg.includes('RUNBUS_RUN_EXISTS')) return new RunExistsError(run ?? '')
  if (msg.includes('RUNBUS_RUN_ENDED')) return new RunEndedError(run ?? '')
  if (err.name === 'MaxRetriesPerRequestError' || UNAVAILABLE.test(msg)) {
    return new BackendUnavailableError(
      `Redis ${what} failed: ${msg} (it may or may not have been applied)`,
      { cause: err },
    )
  }
  return err
}

/** ioredis refused to send the command (not connected, offline queue off): never sent. */
function notSent(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("Stream isn't writeable")
}

/**
 * Runs `fn` against `client` within `ms`: waits for the connection to be ready first, and
 * maps failures with `mapError`. A command ioredis refused to send (the connection was
 * going down) is retried until the deadline, since it was never sent. Rejects with
 * `BackendUnavailableError` when the time runs out (the command may or may not have been
 * applied if it had been sent).
 */
export async function bounded<T>(
  client: RedisConnection,
  ms: number,
  what: string,
  fn: () => Promise<T>,
  run?: string,
): Promise<T> {
  let lastError: unknown
  try {
    return await withDeadline(
      async (stop) => {
        for (;;) {
          if (client.status !== 'ready') await whenReady(client, ms)
          if (stop.aborted) throw stop.reason
          try {
            return await fn()
          } catch (err) {
            if (stop.aborted || !notSent(err)) throw err
            lastError = err
            await delay(10, undefined, { signal: stop }).catch(() => {})
          }
        }
      },
      {
        ms,
        onTimeout: () => {
          const never = notSent(lastError) || client.status !== 'ready'
          return new BackendUnavailableError(
            never
              ? `Redis was not reachable for ${what} within ${ms} ms (nothing was sent)`
              : `Redis did not answer ${what} within ${ms} ms (it may or may not have been applied)`,
            lastError === undefined ? undefined : { cause: lastError },
          )
        },
      },
    )
  } catch (err) {
    throw mapError(err, what, run)
  }
}
