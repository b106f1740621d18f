import { memoryBackend } from '../../src/index.js'
import { runConformance } from './suite.js'

runConformance('memory', async () => ({ backend: memoryBackend() }))
