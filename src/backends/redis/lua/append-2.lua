--[[
  Appends a batch of events to a running run's log, atomically: every event gets the
  next seq (stream id `<seq>-0`) or none is stored. Each entry carries the run's
  incarnation (field `e`, its createdAt) so that a reader of the stream alone (XREAD)
  builds ids that name it. Each XADD trims the log to the run's
  maxEvents (exact `MAXLEN =`, so the first retained seq is exact).

  Only the first XADD can fail (an entry with a larger id written by hand); a failing
  call aborts the script before anything was written.

  KEYS[1] meta hash    <prefix>:{<run>}:meta
  KEYS[2] log stream   <prefix>:{<run>}:log
  ARGV    triples: type, JSON data, ts (epoch ms), one triple per event

  Result: { the seq of the first appended event, createdAt }; errors
  RUNBUS_RUN_NOT_FOUND, RUNBUS_RUN_ENDED.
]]
--@include run-meta
local st, err = runMeta(KEYS[1], true, 'seq', 'max', 'createdAt')
if err then return err end
local seq = tonumber(st[2])
local first = seq + 1
local ep = st[4] or ''
for i = 1, #ARGV, 3 do
  seq = seq + 1
  redis.call('XADD', KEYS[2], 'MAXLEN', '=', st[3], string.format('%d-0', seq),
    't', ARGV[i], 'd', ARGV[i + 1], 'ts', ARGV[i + 2], 'e', ep)
end
redis.call('HSET', KEYS[1], 'seq', seq)
return { first, ep }
