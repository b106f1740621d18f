/**
 * Runs the `runbus` command as users do (`node --import tsx src/cli/main.ts …`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const MAIN = join(root, 'src/cli/main.ts')
export const SECRET = 'cli-test-secret-0123456789'

export function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', RUNBUS_SECRET: '', ...env },
    timeout: 60_000,
  })
}

/** A long-running child whose output we can wait on. */
export class Proc {
  out = ''
  err = ''
  readonly exited: Promise<number | null>
  readonly child: ChildProcess
  #waiters: Array<() => void> = []
  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', RUNBUS_SECRET: '', ...env },
    })
    this.child.stdout!.on('data', (d: Buffer) => {
      this.out += d.toString()
      this.#wake()
    })
    this.child.stderr!.on('data', (d: Buffer) => {
      this.err += d.toString()
      this.#wake()
    })
    this.exited = new Promise((r) =>
      this.child.on('exit', (code) => {
        this.#wake()
        r(code)
      }),
    )
  }
  #wake(): void {
    for (const w of this.#waiters.splice(0)) w()
  }
  async until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!pred()) {
      if (this.child.exitCode !== null)
        throw new Error(`exited before ${what}: ${this.out}\n${this.err}`)
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${this.out}\n${this.err}`)
      await new Promise<void>((r) => {
        const t = setTimeout(r, deadline - Date.now())
        this.#waiters.push(() => {
          clearTimeout(t)
          r()
        })
      })
    }
  }
  url(): string {
    return /listening on (http:\/\/\S+)/.exec(this.out)![1]
  }
}
