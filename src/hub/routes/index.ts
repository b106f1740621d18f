/** The hub's route table: every route of PROTOCOL.md, by area. The router derives from it. */
import type { Route } from '../route.js'
import { ASK_ROUTES } from './asks.js'
import { CHANNEL_ROUTES } from './channels.js'
import { COMPAT_ROUTES } from './compat.js'
import { HEALTH_ROUTES } from './health.js'
import { RUN_ROUTES } from './runs.js'

/** Every route, once. */
export const ROUTES: readonly Route[] = [
  ...HEALTH_ROUTES,
  ...RUN_ROUTES,
  ...ASK_ROUTES,
  ...CHANNEL_ROUTES,
  ...COMPAT_ROUTES,
]
