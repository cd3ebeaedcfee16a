-- ARGV: prefix, bands, bucket name width W, field size L, then per example: id,
-- row (decimal), its band entries (bucket name and field, W + L bytes each,
-- concatenated). Each posting is rewritten without the row (deleted when empty);
-- every posting is read and checked before anything is written.
-- Returns the ids removed (an id no longer pointing to its row is skipped).
local W, L = tonumber(ARGV[3]), tonumber(ARGV[4])
need(P .. 'id', 'hash'); need(P .. 'doc', 'hash'); need(P .. 'tok', 'hash')
for base = 5, #ARGV, 3 do
  local e = ARGV[base + 2]
  for a = 1, #e, W + L do need(P .. 'p:' .. string.sub(e, a, a + W - 1), 'hash') end
end
local out, removed, current, order = {}, {}, {}, {}
for base = 5, #ARGV, 3 do
  local id, r, e = ARGV[base], ARGV[base + 1], ARGV[base + 2]
  if redis.call('HGET', P .. 'id', id) == r then
    local packed = struct.pack('>I4', tonumber(r))
    for a = 1, #e, W + L do
      local key, field = P .. 'p:' .. string.sub(e, a, a + W - 1), string.sub(e, a + W, a + W + L - 1)
      local slot = key .. '\0' .. field
      if current[slot] == nil then
        current[slot] = posting(key, field) or ''
        order[#order + 1] = {key, field, slot}
      end
      local kept, v = {}, current[slot]
      for i = 1, #v, 4 do
        local x = string.sub(v, i, i + 3)
        if x ~= packed then kept[#kept + 1] = x end
      end
      current[slot] = table.concat(kept)
    end
    removed[#removed + 1] = {id, r}
    out[#out + 1] = id
  end
end
for _, o in ipairs(order) do
  if current[o[3]] == '' then
    redis.call('HDEL', o[1], o[2])
  else
    redis.call('HSET', o[1], o[2], current[o[3]])
  end
end
for _, x in ipairs(removed) do
  redis.call('HDEL', P .. 'doc', x[2])
  redis.call('HDEL', P .. 'tok', x[2])
  redis.call('HDEL', P .. 'id', x[1])
end
return out
