/**
 * runbus: the event backbone for AI-agent applications.
 *
 * The main entry exports the embedded (in-process) runbus, its parts and their errors: a
 * chosen list (no `export *`), so that nothing internal becomes API by accident. Event ids
 * are opaque strings: the seq codec is not exported.
 * Redis lives at `runbus/redis`, the HTTP hub at `runbus/hub`, the client at `runbus/client`.
 */
export {
  RunbusError,
  InvalidArgumentError,
  TimeoutError,
  AbortedError,
  QueueFullError,
  QueueClosedError,
  ClosedError,
  RunNotFoundError,
  RunResetError,
  RunExistsError,
  RunEndedError,
  PayloadTooLargeError,
  InsufficientStorageError,
  QuotaExceededError,
  ValidationError,
  DecodeError,
  InterruptedError,
  AskNotFoundError,
  AskAnsweredError,
  AskExpiredError,
  AskTimeoutError,
  JobNotFoundError,
  LeaseLostError,
  BackendUnavailableError,
  UnauthorizedError,
  ForbiddenError,
  NotFoundError,
  TooManyError,
  HubError,
} from './events/errors.js'
export type {
  RunbusErrorCode,
  RunbusErrorOptions,
  StorageBudget,
  ValidationIssue,
} from './events/errors.js'
export { RESERVED_TYPES } from './events/envelope.js'
export type {
  GapData,
  InboxMessage,
  RunEnd,
  RunEndStatus,
  RunEvent,
  RunStatus,
} from './events/envelope.js'
export { isEvent } from './asks/builtin-events.js'
export type {
  BuiltinEvent,
  BuiltinEventData,
  ErrorData,
  StatusData,
  TextData,
  ToolCallData,
  ToolResultData,
} from './asks/builtin-events.js'
export type {
  Backend,
  Broadcast,
  BroadcastListener,
  EventDraft,
  KeyValueStore,
  LogListener,
  LogPage,
  RunInfo,
  RunInit,
  RunLogStore,
  Unsubscribe,
} from './contract/contract.js'
export { AsyncQueue, QueueIterator } from './queue/index.js'
export type {
  AsyncQueueOptions,
  OverflowPolicy,
  QueueState,
  QueueStats,
  WaitOptions,
} from './queue/index.js'
export { createRunbus } from './runbus.js'
export type { Runbus, RunbusOptions, RunbusStats } from './runbus.js'
export { memoryBackend } from './backends/memory/index.js'
export type {
  MemoryBackend,
  MemoryBackendOptions,
  MemoryBackendStats,
  MemoryRunStats,
} from './backends/memory/index.js'
export { Run } from './agent/run.js'
export type { EndOptions, EventInput, RunHandleStats } from './agent/run.js'
export { Follower } from './streams/follow.js'
export type { FollowOptions, FollowerStats } from './streams/follow.js'
export type { ReadInboxOptions } from './streams/by-id.js'
export type { CreateRunOptions, RunPage, RunSummary, RunsApi } from './agent/runs.js'
export { Subscription } from './bus/subscription.js'
export type {
  BusMessage,
  InterruptionInfo,
  SubscribeOptions,
  SubscriptionStats,
} from './bus/subscription.js'
export type { BusApi, BusStats, Channel, PendingWait, WaitForOptions } from './bus/bus.js'
export { matchPattern } from './contract/patterns.js'
export type { AsksApi, AskCreateOptions, AskWaitOptions, AnswerOptions } from './asks/asks.js'
export type {
  AnswerEventData,
  AnswerOf,
  AskEventData,
  AskExpiredEventData,
  AskExpiryReason,
  AskInfo,
  AskKind,
  AskOptions,
  AskState,
} from './asks/types.js'
export type { SchemaInput, SchemaOutput, StandardSchemaV1 } from './events/schema.js'
export { WorkQueue, backoffDelay, DEFAULT_RETRY_BACKOFF } from './work/index.js'
export type {
  AddItem,
  AddManyResult,
  AddOptions,
  AddResult,
  Backoff,
  BackoffOptions,
  DeadJob,
  DeadLetters,
  Job,
  JobCompletedNotice,
  JobDeadNotice,
  JobFailedNotice,
  JobHandler,
  ProcessOptions,
  StopOptions,
  WorkApi,
  WorkQueueOptions,
  WorkStats,
  Worker,
  WorkerStats,
} from './work/index.js'
