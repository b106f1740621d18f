/**
 * `runbus/hub`: the HTTP/SSE hub. Placeholder until the hub part lands.
 */
export {}
