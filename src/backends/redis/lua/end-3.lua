--[[
  Ends a run, atomically: appends the final `end` event, marks the run ended and sets
  the retention TTL on every key of the run.

  KEYS[1] meta hash     <prefix>:{<run>}:meta
  KEYS[2] log stream    <prefix>:{<run>}:log
  KEYS[3] inbox stream  <prefix>:{<run>}:inbox
  ARGV[1] status        completed | failed | cancelled
  ARGV[2] error         error text, or ''
  ARGV[3] ts            epoch ms
  ARGV[4] data          JSON of the end event's data
  ARGV[5] ttlMs         expire the run this long after the end (>= 1); -1 = keep

  Result: { the seq of the `end` event, createdAt }; errors RUNBUS_RUN_NOT_FOUND,
  RUNBUS_RUN_ENDED. The entry carries the incarnation (field `e`) as in append-2.
]]
--@include run-meta
local st, err = runMeta(KEYS[1], true, 'seq', 'max', 'createdAt')
if err then return err end
local seq = tonumber(st[2]) + 1
local ep = st[4] or ''
redis.call('XADD', KEYS[2], 'MAXLEN', '=', st[3], string.format('%d-0', seq),
  't', 'end', 'd', ARGV[4], 'ts', ARGV[3], 'e', ep)
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'endedAt', ARGV[3], 'seq', seq)
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'error', ARGV[2])
end
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  for i = 1, 3 do
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return { seq, ep }
