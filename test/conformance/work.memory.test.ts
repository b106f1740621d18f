import { createMemoryWorkStore } from '../../src/backends/memory/work.js'
import { runWorkConformance } from './work-suite.js'

runWorkConformance(
  'memory',
  async () => {
    const store = createMemoryWorkStore()
    return { store, cleanup: () => store.close() }
  },
  { fakeTime: true },
)
