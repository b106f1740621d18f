--[[
  entryFields(fields): a stream entry's flat field list as a table (`p` payload, `j` job id,
  `a` attempts before, `t` first seen ms, `e` last error).
]]
local function entryFields(fields)
  local f = {}
  for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
  return f
end
