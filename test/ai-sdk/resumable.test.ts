import { memoryBackend } from '../../src/index.js'
import { resumableSuite } from './resumable-suite.js'

resumableSuite('memory', () => memoryBackend())
