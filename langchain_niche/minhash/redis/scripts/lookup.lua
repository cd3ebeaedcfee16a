-- Band entries are postings (postings.py): a band key is a bucket name (W hex
-- chars) and a field (L bytes). Rows travel as 4-byte big-endian strings; the
-- client scores them (numpy), so the server only reads postings.
-- ARGV: prefix, mode, W, L, head (leading field bytes a probe range fixes), then
-- per mode:
-- 'band': band keys (bucket name and field each), probe ranges ('' for no
-- probe: bucket name, then the fields of the range's first and last key),
-- limit, probe limit, probe budget, probe field budget, most documents to
-- return. Returns {distinct rows sharing a band, their token counts (uint32
-- LE), their token ids (concatenated)}; then, when there are probe ranges and
-- fewer than `limit` such rows, the same three for the probe's rows (the banded
-- rows left out; '' otherwise); then, when all these rows are at most the
-- documents' limit, their document sizes (uint32 LE) and documents
-- (concatenated), in the same order. So a selection over few candidates is one
-- round trip.
-- 'probe': probe ranges, rows to leave out, limit, budget, field budget.
-- Returns the rows the probe picks, their token counts and token ids.
-- The probe takes the ranges' buckets smallest first (HLEN) while their fields
-- fit in the field budget, reads their field names (HKEYS) and keeps the fields
-- in each range; then, as BandTable.probe, it reads the ranges smallest first
-- (rows counted by HSTRLEN) while their rows fit in the budget, then the first
-- rows (by key, then row) of the next range with what is left, counts each
-- row's ranges, and keeps whole hit-count levels from the top while they fit in
-- the limit (the lowest rows of the top level when it alone does not fit): as
-- top_probe_rows does. Rows and fields are compared as numbers or bytes (string
-- order in Lua follows the server's locale).
local mode = ARGV[2]
local W, L, head = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local sub, byte, fmt, unpack4, pack = string.sub, string.byte, string.format, struct.unpack, struct.pack
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
local function bytes_less(x, y)
  for i = 1, #x do
    local a, b = byte(x, i), byte(y, i)
    if a ~= b then return a < b end
  end
  return #x < #y
end
local function first_rows(key, fields, n)
  -- the first n rows of these fields by (field, row)
  table.sort(fields, bytes_less)
  local out = {}
  for _, f in ipairs(fields) do
    local v = posting(key, f) or ''
    local numbered = {}
    for a = 1, #v, 4 do numbered[#numbered + 1] = unpack4('>I4', v, a) end
    table.sort(numbered)
    for _, r in ipairs(numbered) do
      if #out >= n then return out end
      out[#out + 1] = pack('>I4', r)
    end
  end
  return out
end
local function ranges_of(ranges, fbudget)
  -- {rows, offset, bucket key, fields in the range} of each range whose bucket is read
  local step, list, hlen = W + 2 * L, {}, {}
  for a = 1, #ranges, step do
    local key = P .. 'p:' .. sub(ranges, a, a + W - 1)
    if not hlen[key] then hlen[key] = rcall('HLEN', key) end
    list[#list + 1] = {hlen[key], a, key}
  end
  table.sort(list, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return x[2] < y[2]
  end)
  local names, read, out = {}, 0, {}
  for _, e in ipairs(list) do
    local key = e[3]
    if not names[key] then
      if read + e[1] > fbudget then break end
      read = read + e[1]
      names[key] = rcall('HKEYS', key)
    end
    local lo, hi = sub(ranges, e[2] + W, e[2] + W + L - 1), sub(ranges, e[2] + W + L, e[2] + W + 2 * L - 1)
    local fixed, blo, bhi = sub(lo, 1, head), byte(lo, head + 1), byte(hi, head + 1)
    local inside, n = {}, 0
    for _, f in ipairs(names[key]) do
      if #f ~= L then fail(key, 'holds a field of ' .. #f .. ' bytes, not ' .. L) end
      local b = byte(f, head + 1)
      if b >= blo and b <= bhi and sub(f, 1, head) == fixed then
        local size = rcall('HSTRLEN', key, f)
        if size % 4 ~= 0 then fail(key, 'holds a posting of ' .. size .. ' bytes, not a multiple of 4') end
        inside[#inside + 1] = f
        n = n + size / 4
      end
    end
    out[#out + 1] = {n, e[2], key, inside}
  end
  return out
end
local function probe_rows(ranges, seen, limit, budget, fbudget)
  local sizes = ranges_of(ranges, fbudget)
  table.sort(sizes, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return x[2] < y[2]
  end)
  local count, used = {}, 0
  local function hit(r)
    if not seen[r] then count[r] = (count[r] or 0) + 1 end
  end
  for _, e in ipairs(sizes) do
    local left = nil
    if used + e[1] > budget then  -- the first rows of the next range fill the budget
      left = budget - used
      if left <= 0 then break end
    end
    used = used + e[1]
    if left then
      for _, r in ipairs(first_rows(e[3], e[4], left)) do hit(r) end
      break
    end
    for _, f in ipairs(e[4]) do
      local v = posting(e[3], f) or ''
      for a = 1, #v, 4 do hit(sub(v, a, a + 3)) end
    end
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
  for a = 1, #ARGV[7], 4 do seen[sub(ARGV[7], a, a + 3)] = true end
  local rows = probe_rows(ARGV[6], seen, tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]))
  return with_tokens(rows, {{}, {}, {}})
end
local seen, rows, n = {}, {}, 0
local band = ARGV[6]
for a = 1, #band, W + L do
  local v = posting(P .. 'p:' .. sub(band, a, a + W - 1), sub(band, a + W, a + W + L - 1))
  if v then
    for b = 1, #v, 4 do
      local r = sub(v, b, b + 3)
      if not seen[r] then
        seen[r] = true
        n = n + 1
        rows[n] = r
      end
    end
  end
end
local found = {{}, {}, {}}
local out = with_tokens(rows, found)
local probed = {{}, {}, {}}
out[4], out[5], out[6] = '', '', ''
if ARGV[7] ~= '' and n < tonumber(ARGV[8]) then
  local picked = probe_rows(ARGV[7], seen, tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))
  local probe = with_tokens(picked, probed)
  out[4], out[5], out[6] = probe[1], probe[2], probe[3]
end
local all = found[1]
for _, r in ipairs(probed[1]) do all[#all + 1] = r end
if #all <= tonumber(ARGV[12]) then
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
