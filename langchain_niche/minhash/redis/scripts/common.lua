-- Helpers prepended to every script of the MinHash index.
-- Lua's unpack() takes at most a few thousand values: commands go in slices.
-- A key holding something else fails the script with 'NICHEKEY key problem'
-- (turned into IndexFormatError naming the key); writes check every key's type
-- before changing anything.
local P = ARGV[1]
local function fail(key, problem)
  error({err = 'NICHEKEY ' .. key .. ' ' .. problem})
end
local function rcall(cmd, key, ...)
  local r = redis.pcall(cmd, key, ...)
  if type(r) == 'table' and r.err then fail(key, r.err) end
  return r
end
local function need(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= want and t ~= 'none' then fail(key, 'WRONGTYPE holds a ' .. t .. ', not a ' .. want) end
end
local function call_sliced(cmd, key, args, step, lead)
  if #args <= step and #lead == 0 then
    if #args > 0 then redis.call(cmd, key, unpack(args)) end
    return
  end
  for s = 1, #args, step do
    local part = {}
    for _, v in ipairs(lead) do part[#part + 1] = v end
    for i = s, math.min(s + step - 1, #args) do part[#part + 1] = args[i] end
    redis.call(cmd, key, unpack(part))
  end
end
-- Band entries are postings (see postings.py): hash P .. 'p:' .. bucket, field =
-- the band key's last bytes, value = rows (4-byte big-endian each).
local function posting(key, field)
  local v = rcall('HGET', key, field)
  if v and #v % 4 ~= 0 then
    fail(key, 'holds a posting of ' .. #v .. ' bytes, not a multiple of 4')
  end
  return v
end
