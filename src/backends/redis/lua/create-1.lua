--[[
  Creates a run: its meta hash, status `running`, seq counters at 0.

  KEYS[1] meta hash    <prefix>:{<run>}:meta
  ARGV[1] createdAt    epoch ms
  ARGV[2] maxEvents    keep at most this many log entries
  ARGV[3] meta         JSON of the run's meta, or '' for none
  ARGV[4] maxInbox     keep at most this many inbox messages

  Result: 1, or the error RUNBUS_RUN_EXISTS when the run exists.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('RUNBUS_RUN_EXISTS')
end
redis.call('HSET', KEYS[1], 'status', 'running', 'createdAt', ARGV[1], 'max', ARGV[2],
  'imax', ARGV[4], 'seq', 0, 'iseq', 0)
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'meta', ARGV[3])
end
return 1
