-- Lex ranges are packed 20 bytes each: shard (4 hex chars), inclusive start and
-- exclusive end (8-byte band keys). Rows travel as 4-byte big-endian strings; the
-- client scores them (numpy), so the server only walks its sorted sets.
-- ARGV: prefix, mode, then per mode:
-- 'band': band ranges, prefix ranges ('' for no probe), limit, probe limit,
-- probe budget, most documents to return. Returns {distinct rows sharing a
-- band, their token counts (uint32 LE), their token ids (concatenated)};
-- then, when there are prefix ranges and fewer than `limit` such rows, the
-- same three for the probe's rows (the banded rows left out; '' otherwise);
-- then, when all these rows are at most the documents' limit, their
-- document sizes (uint32 LE) and documents (concatenated), in the same
-- order. So a selection over few candidates is one round trip.
-- 'probe': prefix ranges, rows to leave out, limit, budget. Returns the rows
-- the probe picks, their token counts and token ids.
-- The probe reads the prefix ranges smallest first (ZLEXCOUNT) while their
-- members fit in the budget, then the first members of the next range with what
-- is left of the budget (BandTable.probe), counts each row's ranges, and keeps whole
-- hit-count levels from the top while they fit in the limit (the lowest rows of
-- the top level when it alone does not fit): as top_probe_rows does. Rows are
-- compared as numbers (string order in Lua follows the server's locale).
local mode = ARGV[2]
local sub, fmt, unpack4, pack = string.sub, string.format, struct.unpack, struct.pack
local function members(ranges, a, limit)
  local key = P .. 'lsh:' .. sub(ranges, a, a + 3)
  local lo, hi = '[' .. sub(ranges, a + 4, a + 11), '(' .. sub(ranges, a + 12, a + 19)
  local found
  if limit then
    found = rcall('ZRANGEBYLEX', key, lo, hi, 'LIMIT', 0, limit)
  else
    found = rcall('ZRANGEBYLEX', key, lo, hi)
  end
  for _, m in ipairs(found) do
    if #m ~= 12 then fail(key, 'holds a member of ' .. #m .. ' bytes, not 12') end
  end
  return found
end
local function with_tokens(rows, out)
  local kept, lens, toks, n = out[1], out[2], out[3], #out[1]
  for s = 1, #rows, 1000 do
    local names = {}
    for i = s, math.min(s + 999, #rows) do
      names[i - s + 1] = fmt('%d', unpack4('>I4', rows[i]))
    end
    local got = rcall('HMGET', P .. 'tok', unpack(names))
    for i = 1, #names do
      local t = got[i]
      if t and #t % 8 ~= 0 then
        fail(P .. 'tok', 'row ' .. names[i] .. ' holds ' .. #t .. ' bytes, not a multiple of 8')
      end
      if t then
        n = n + 1
        kept[n], lens[n], toks[n] = rows[s + i - 1], pack('<I4', #t / 8), t
      end
    end
  end
  return {table.concat(kept), table.concat(lens), table.concat(toks)}
end
local function probe_rows(ranges, seen, limit, budget)
  local sizes = {}
  for a = 1, #ranges, 20 do
    local key = P .. 'lsh:' .. sub(ranges, a, a + 3)
    local lo, hi = sub(ranges, a + 4, a + 11), sub(ranges, a + 12, a + 19)
    sizes[#sizes + 1] = {rcall('ZLEXCOUNT', key, '[' .. lo, '(' .. hi), a}
  end
  table.sort(sizes, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return x[2] < y[2]
  end)
  local count, used = {}, 0
  for _, e in ipairs(sizes) do
    local limit = nil
    if used + e[1] > budget then  -- the first members of the next range fill the budget
      limit = budget - used
      if limit <= 0 then break end
    end
    used = used + e[1]
    for _, m in ipairs(members(ranges, e[2], limit)) do
      local r = sub(m, 9, 12)
      if not seen[r] then count[r] = (count[r] or 0) + 1 end
    end
    if limit then break end
  end
  local levels, top = {}, 0
  for r, c in pairs(count) do
    local level = levels[c]
    if not level then level = {}; levels[c] = level end
    level[#level + 1] = r
    if c > top then top = c end
  end
  local chosen, left = {}, limit
  for c = top, 1, -1 do
    local level = levels[c]
    if level then
      if #level <= left then
        for _, r in ipairs(level) do chosen[#chosen + 1] = r end
        left = left - #level
      else
        if #chosen == 0 then
          local numbered = {}
          for i, r in ipairs(level) do numbered[i] = {unpack4('>I4', r), r} end
          table.sort(numbered, function(x, y) return x[1] < y[1] end)
          for i = 1, left do chosen[#chosen + 1] = numbered[i][2] end
        end
        break
      end
    end
  end
  return chosen
end
if mode == 'probe' then
  local seen = {}
  for a = 1, #ARGV[4], 4 do seen[sub(ARGV[4], a, a + 3)] = true end
  local rows = probe_rows(ARGV[3], seen, tonumber(ARGV[5]), tonumber(ARGV[6]))
  return with_tokens(rows, {{}, {}, {}})
end
local seen, rows, n = {}, {}, 0
local band = ARGV[3]
for a = 1, #band, 20 do
  for _, m in ipairs(members(band, a)) do
    local r = sub(m, 9, 12)
    if not seen[r] then
      seen[r] = true
      n = n + 1
      rows[n] = r
    end
  end
end
local found = {{}, {}, {}}
local out = with_tokens(rows, found)
local probed = {{}, {}, {}}
out[4], out[5], out[6] = '', '', ''
if ARGV[4] ~= '' and n < tonumber(ARGV[5]) then
  local probe = with_tokens(probe_rows(ARGV[4], seen, tonumber(ARGV[6]), tonumber(ARGV[7])), probed)
  out[4], out[5], out[6] = probe[1], probe[2], probe[3]
end
local all = found[1]
for _, r in ipairs(probed[1]) do all[#all + 1] = r end
if #all <= tonumber(ARGV[8]) then
  local sizes, docs = {}, {}
  for s = 1, #all, 1000 do
    local names = {}
    for i = s, math.min(s + 999, #all) do
      names[#names + 1] = string.format('%d', struct.unpack('>I4', all[i]))
    end
    local got = rcall('HMGET', P .. 'doc', unpack(names))
    for i = 1, #names do
      local d = got[i] or ''
      sizes[#sizes + 1] = struct.pack('<I4', #d)
      docs[#docs + 1] = d
    end
  end
  out[7], out[8] = table.concat(sizes), table.concat(docs)
end
return out
