/**
 * `runbus/ai-sdk`: Vercel AI SDK streams, chat transport and tool approvals on runbus runs.
 *
 * Loads the optional peer `ai` (>= 6); nothing else in runbus does.
 */
export { createResumableStreamContext, TEXT_CHUNK_TYPE } from './resumable.js'
export type { ResumableStreamContext, ResumableStreamContextOptions } from './resumable.js'
export {
  pipeUIMessageStream,
  uiMessageStreamResponse,
  readUIMessageChunks,
  UI_CHUNK_TYPE,
  RUN_HEADER,
  RESUME_HEADER,
} from './ui-stream.js'
export type {
  PipeResult,
  PipeUIMessageStreamOptions,
  UIMessageStreamResponseOptions,
} from './ui-stream.js'
export { BEAT_TYPE } from './liveness.js'
export { RunbusChatTransport } from './transport.js'
export type { ChatPosition, RunbusChatTransportOptions } from './transport.js'
export { pipeWithApprovals, APPROVAL_CHUNK_TYPE } from './approvals.js'
export type {
  ApprovalData,
  ApprovalRound,
  ApprovalsResult,
  PipeWithApprovalsOptions,
} from './approvals.js'
