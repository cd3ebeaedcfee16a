-- ARGV: prefix, hash name ('tok' or 'doc'), rows (4-byte big-endian each).
-- Returns {rows found, sizes (uint32 LE), values (concatenated)}.
local rows, name = ARGV[3], ARGV[2]
local kept, sizes, values = {}, {}, {}
for s = 1, #rows / 4, 1000 do
  local names, raw = {}, {}
  for i = s, math.min(s + 999, #rows / 4) do
    raw[#raw + 1] = string.sub(rows, i * 4 - 3, i * 4)
    names[#names + 1] = string.format('%d', struct.unpack('>I4', raw[#raw]))
  end
  local found = rcall('HMGET', P .. name, unpack(names))
  for i = 1, #names do
    if found[i] then
      kept[#kept + 1] = raw[i]
      sizes[#sizes + 1] = struct.pack('<I4', #found[i])
      values[#values + 1] = found[i]
    end
  end
end
return {table.concat(kept), table.concat(sizes), table.concat(values)}
