/**
 * `runbus/client`: follow runs, answer asks and publish from browsers and Node. Placeholder.
 */
export {}
