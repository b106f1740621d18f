/**
 * runbus: the event backbone for AI-agent applications.
 *
 * The main entry exports the embedded (in-process) runbus, its parts and their errors.
 * Redis lives at `runbus/redis`, the HTTP hub at `runbus/hub`, the client at `runbus/client`.
 */
export * from './events/errors.js'
export * from './events/envelope.js'
export type * from './backends/contract.js'
