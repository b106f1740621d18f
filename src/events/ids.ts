/**
 * Ids runbus generates (runs, asks) and the rules for ids users may choose.
 *
 * Run ids end up inside backend keys (Redis: `runbus:{<run>}:…`), so they are limited to a
 * safe alphabet; braces in particular would break Redis Cluster hash tags.
 */
import { randomUUID } from 'node:crypto'
import { InvalidArgumentError } from './errors.js'

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/

/**
 * A fresh run id (`run_` + a random UUID without dashes).
 *
 * @example
 * ```ts
 * const id = newRunId() // 'run_0f8c…'
 * ```
 */
export function newRunId(): string {
  return `run_${randomUUID().replaceAll('-', '')}`
}

/**
 * A fresh ask id (`ask_` + a random UUID without dashes). Ask ids are unguessable: knowing
 * one is what lets a person answer.
 *
 * @example
 * ```ts
 * const id = newAskId()
 * ```
 */
export function newAskId(): string {
  return `ask_${randomUUID().replaceAll('-', '')}`
}

/**
 * Checks a user-chosen run id: 1–128 characters of `A-Z a-z 0-9 _ . : -`, starting with a
 * letter or digit.
 *
 * @throws InvalidArgumentError otherwise.
 * @example
 * ```ts
 * checkRunId('chat-42') // ok
 * ```
 */
export function checkRunId(id: unknown): string {
  if (typeof id !== 'string' || !RUN_ID.test(id)) {
    throw new InvalidArgumentError(
      `run id must be 1-128 characters of A-Z a-z 0-9 _ . : - starting with a letter or digit, got ${JSON.stringify(id)}`,
    )
  }
  return id
}

/**
 * Checks an ask id's shape (any non-empty string up to 200 characters).
 *
 * @throws InvalidArgumentError otherwise.
 * @example
 * ```ts
 * checkAskId('ask_123')
 * ```
 */
export function checkAskId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 200) {
    throw new InvalidArgumentError(`ask id must be a non-empty string, got ${JSON.stringify(id)}`)
  }
  return id
}
