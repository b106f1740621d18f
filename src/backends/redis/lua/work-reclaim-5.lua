--[[
  Takes over jobs whose lease expired (pending longer than the visibility timeout) with
  XAUTOCLAIM, for the calling consumer. For each one it reads the delivery count (XPENDING)
  to compute the attempt; a job over maxAttempts goes to the dead letters instead.

  XAUTOCLAIM's third element lists pending ids whose stream entries no longer exist
  (trimmed or deleted outside runbus; runbus itself only deletes settled entries). XAUTOCLAIM
  has already dropped them from the pending list, so they are recorded here, in the dead
  letters with the reason, and counted: never lost without a trace.

  KEYS[1] stream        <prefix>:{<queue>}:work:stream
  KEYS[2] dead hash     <prefix>:{<queue>}:work:dead      (job id -> JSON record)
  KEYS[3] dead index    <prefix>:{<queue>}:work:dead-idx  (job id -> dead-at ms)
  KEYS[4] stats hash    <prefix>:{<queue>}:work:stats
  KEYS[5] released hash <prefix>:{<queue>}:work:released  (entry id -> 1: given back by
                        `release`, not a redelivery)
  ARGV[1] group
  ARGV[2] consumer
  ARGV[3] min idle (the visibility timeout, ms)
  ARGV[4] start id (the cursor from the previous call, '0-0' to start over)
  ARGV[5] at most this many
  ARGV[6] maxAttempts (0 = no limit)
  ARGV[7] now (epoch ms)
  ARGV[8] forget consumers that hold nothing and were idle this long, ms (0 = skip): the
          names of dead processes would pile up in the group otherwise. Safe even for a
          live one: XREADGROUP recreates a consumer, and one holding jobs is never removed.

  Result: { next cursor, { entry id, fields, delivery count, released ('1'/'0') }... }
]]
--@include entry-fields
--@include dead-record
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local maxAttempts = tonumber(ARGV[6])
local now = tonumber(ARGV[7])
local out = {}
for _, entry in ipairs(r[2]) do
  local eid, fields = entry[1], entry[2]
  local f = entryFields(fields)
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], eid, eid, 1)
  local count = p[1] and p[1][4] or 1
  local released = redis.call('HDEL', KEYS[5], eid) == 1
  local attempt = tonumber(f.a or '0') + count
  if maxAttempts > 0 and attempt > maxAttempts and not released then
    local id = f.j or eid
    local rec = deadRecord(id, f.p or '', attempt - 1,
      tonumber(f.t or string.match(eid, '^(%d+)')), now,
      'lease expired on attempt ' .. (attempt - 1) .. ' of ' .. maxAttempts ..
        ': no answer from the consumer within the visibility timeout')
    redis.call('HSET', KEYS[2], id, rec)
    redis.call('ZADD', KEYS[3], now, id)
    redis.call('XACK', KEYS[1], ARGV[1], eid)
    redis.call('XDEL', KEYS[1], eid)
  else
    if not released then
      redis.call('HINCRBY', KEYS[4], 'redelivered', 1)
    end
    out[#out + 1] = { eid, fields, count, released and '1' or '0' }
  end
end
for _, eid in ipairs(r[3]) do
  local rec = deadRecord(eid, '', 0, tonumber(string.match(eid, '^(%d+)')), now,
    'entry lost: stream entry ' .. eid ..
      ' was deleted while pending (trimmed outside runbus); its payload is gone')
  redis.call('HSET', KEYS[2], eid, rec)
  redis.call('ZADD', KEYS[3], now, eid)
  redis.call('HINCRBY', KEYS[4], 'lost', 1)
  redis.call('HDEL', KEYS[5], eid)
end
local forget = tonumber(ARGV[8] or '0')
if forget > 0 then
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
    local info = {}
    for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
    if info['pending'] == 0 and info['idle'] >= forget and info['name'] ~= ARGV[2] then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    end
  end
end
return { r[1], out }
