--[[
  Appends one message to a running run's inbox with the inbox's next seq (stream id
  `<seq>-0`), trimmed to the run's maxInboxMessages (its maxEvents for runs created
  before that was stored).

  KEYS[1] meta hash     <prefix>:{<run>}:meta
  KEYS[2] inbox stream  <prefix>:{<run>}:inbox
  ARGV[1] type
  ARGV[2] data          JSON
  ARGV[3] ts            epoch ms

  Result: { the message's seq, how many older messages the trim dropped (counted by the
  caller) }; errors RUNBUS_RUN_NOT_FOUND, RUNBUS_RUN_ENDED.
]]
--@include run-meta
local st, err = runMeta(KEYS[1], true, 'iseq', 'max', 'imax')
if err then return err end
local seq = tonumber(st[2]) + 1
local before = redis.call('XLEN', KEYS[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '=', st[4] or st[3], string.format('%d-0', seq),
  't', ARGV[1], 'd', ARGV[2], 'ts', ARGV[3])
redis.call('HSET', KEYS[1], 'iseq', seq)
return { seq, before + 1 - redis.call('XLEN', KEYS[2]) }
