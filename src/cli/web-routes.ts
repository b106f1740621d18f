/**
 * The demo page and its assets, served by `runbus serve` beside the hub: `/` (the page),
 * its scripts and styles, the browser client and its one dependency, and `POST /demo/runs`
 * (starts a simulated agent run on this hub). Placeholder until the demo lands.
 */

/** What the web routes need from `runbus serve`. */
export interface WebRoutesOptions {
  /** This hub's own base URL, for the demo agent to talk to. */
  baseUrl: string
  /** A token with write scope for the demo agent (absent on an `--insecure` hub). */
  agentToken?: string
}

/**
 * Returns a handler that answers the page's routes and `undefined` for anything else
 * (the hub answers those).
 */
export function createWebRoutes(
  _options: WebRoutesOptions,
): (request: Request) => Promise<Response | undefined> {
  return () => Promise.resolve(undefined)
}
