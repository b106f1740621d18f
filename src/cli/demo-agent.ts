/**
 * The simulated agent behind `runbus demo` and the demo page's "Start a run" button.
 * Placeholder until the demo lands.
 */

/** Where the demo agent runs. */
export interface DemoAgentOptions {
  /** The hub's base URL, e.g. `http://127.0.0.1:8787`. */
  baseUrl: string
  /** A token with `write` scope (omit on an `--insecure` hub). */
  token?: string
  /** Run id to use; generated when absent. */
  runId?: string
  /** Speed factor: 1 = human-watchable pacing, larger = faster (tests use 50+). */
  speed?: number
  signal?: AbortSignal
}

/** Starts a simulated agent run; resolves once the run exists, `done` when it ended. */
export async function startDemoAgent(
  _options: DemoAgentOptions,
): Promise<{ runId: string; done: Promise<void> }> {
  return Promise.reject(new Error('demo agent not built yet'))
}
