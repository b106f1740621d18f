#!/usr/bin/env node
/**
 * The `runbus` command. Placeholder until the CLI lands.
 */
console.log('runbus: not yet')
