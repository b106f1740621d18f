/**
 * The one polling wait of the tests: for state nothing signals (a counter, a row, a
 * connection list). Bounded: past `ms` it fails with `what`, so a test never hangs.
 */

/**
 * Resolves once `cond()` holds, re-checking every `everyMs` (default 5); rejects with
 * "timed out waiting for: <what>" after `ms` (default 15 s).
 */
export async function until(
  cond: () => unknown,
  what = 'condition',
  ms = 15_000,
  everyMs = 5,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
