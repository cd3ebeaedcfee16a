-- ARGV: prefix, bands, then per example: id, row, then `bands` (shard, member) pairs.
-- Returns the ids removed (an id no longer pointing to its row is skipped).
local nb = tonumber(ARGV[2])
local out = {}
local step = 2 + 2 * nb
need(P .. 'id', 'hash'); need(P .. 'doc', 'hash'); need(P .. 'tok', 'hash')
for base = 3, #ARGV, step do
  for j = 0, nb - 1 do need(P .. 'lsh:' .. ARGV[base + 2 + 2 * j], 'zset') end
end
for base = 3, #ARGV, step do
  local id, r = ARGV[base], ARGV[base + 1]
  if redis.call('HGET', P .. 'id', id) == r then
    for j = 0, nb - 1 do
      redis.call('ZREM', P .. 'lsh:' .. ARGV[base + 2 + 2 * j], ARGV[base + 3 + 2 * j])
    end
    redis.call('HDEL', P .. 'doc', r)
    redis.call('HDEL', P .. 'tok', r)
    redis.call('HDEL', P .. 'id', id)
    out[#out + 1] = id
  end
end
return out
