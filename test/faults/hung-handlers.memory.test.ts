import { createMemoryWorkStore } from '../../src/backends/memory/work.js'
import { runHungHandlerTests } from './hung-handlers.js'

// One store shared by every worker of a test, as in one process.
runHungHandlerTests('memory', async () => {
  const store = createMemoryWorkStore()
  return { store: () => store, cleanup: () => store.close() }
})
