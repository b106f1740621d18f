--[[
  firstId(stream): the id of the stream's first retained entry, or '' when it is empty.
]]
local function firstId(stream)
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if head[1] then
    return head[1][1]
  end
  return ''
end
