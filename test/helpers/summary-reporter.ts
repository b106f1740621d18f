/**
 * Prints the plain closing line `N passed, N failed, N skipped` after a vitest run, so CI
 * logs state the outcome in a form any reader (and CI's "ran no test" check) understands.
 */
import type { Reporter, RunnerTestFile } from 'vitest/node'

interface TaskLike {
  type: string
  mode?: string
  result?: { state?: string }
  tasks?: TaskLike[]
}

function count(tasks: TaskLike[], acc: { passed: number; failed: number; skipped: number }): void {
  for (const t of tasks) {
    if (t.tasks) count(t.tasks, acc)
    if (t.type !== 'test') continue
    const state = t.result?.state
    if (state === 'pass') acc.passed++
    else if (state === 'fail') acc.failed++
    else acc.skipped++
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = [], errors: unknown[] = []): void {
    const acc = { passed: 0, failed: 0, skipped: 0 }
    count(files, acc)
    // Errors outside any test (an unhandled rejection, a file that failed to load) fail the run.
    const failed =
      acc.failed +
      errors.length +
      files.filter((f) => f.result?.state === 'fail' && !f.tasks.length).length
    console.log(`\n${acc.passed} passed, ${failed} failed, ${acc.skipped} skipped`)
  }
}
