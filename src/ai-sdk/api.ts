/**
 * The part of runbus's public API that `runbus/ai-sdk` uses, gathered in one place (the
 * layer check forbids importing the main entry from here). Everything named here is exported
 * by `runbus` itself; nothing internal is used.
 */
export {
  InvalidArgumentError,
  RunEndedError,
  RunExistsError,
  RunNotFoundError,
} from '../events/errors.js'
export type { RunEnd, RunEndStatus, RunEvent } from '../events/envelope.js'
export type { Run } from '../agent/run.js'
export type { Runbus } from '../runbus.js'
export { AskExpiredError, AskTimeoutError } from '../events/errors.js'
