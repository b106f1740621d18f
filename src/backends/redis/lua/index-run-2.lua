--[[
  Adds a run to the runs index, scored by a global creation counter so "newest first"
  is exact even for runs created in the same millisecond, across processes.

  Not part of the run's own scripts: on a Redis Cluster the index lives in its own slot.

  KEYS[1] index sorted set  <prefix>:{~runs}:index
  KEYS[2] counter           <prefix>:{~runs}:counter
  ARGV[1] run id

  Result: the run's position in the index (the counter value).
]]
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], n, ARGV[1])
return n
