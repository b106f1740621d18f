/**
 * The hub's HTTP/SSE protocol, shared by the hub (`src/hub`) and the client
 * (`src/client`): wire bodies, error codes and their statuses, and the stream framing.
 * Nothing here does I/O; it imports only `events`, the backend contract's types and the
 * asks' types.
 */
export {
  HTTP_STATUS,
  MethodNotAllowedError,
  errorBody,
  errorFromWire,
  isRunbusErrorCode,
  statusOfCode,
  type ErrorBody,
  type HttpStatus,
  type WireError,
} from './errors.js'
export {
  BUS_READY,
  CONTENT_TYPE,
  PING_ND,
  PING_SSE,
  SseParser,
  busFrame,
  decodeRunFrame,
  frameOf,
  gapFrame,
  isEnvelope,
  pingOf,
  wireJson,
  type RunFrame,
  type SseHandlers,
  type SseMessage,
  type StreamFormat,
} from './framing.js'
export {
  runWire,
  type AppendedWire,
  type AskWire,
  type CreatedRunWire,
  type RunWire,
} from './wire.js'
