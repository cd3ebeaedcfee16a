-- ARGV: prefix, fields json, sizes (n x 3 little-endian uint32: id, document and
-- token bytes), rows (n x 4-byte big-endian), ids, documents, token blobs (each
-- concatenated), bucket name width W, field size L, then the band entries as
-- Postings.insert_args packs them: bucket names (W chars each), fields per bucket
-- (uint32 LE), fields (L bytes each), rows per field (uint32 LE), rows (4 bytes
-- each): a few arguments instead of one per entry.
-- Returns {'ok'}; {'done'} when the chunk was written before (a re-sent chunk:
-- an id already points to the row reserved for it); or {'taken', id} (then
-- nothing was written).
local sizes, rows, ids_blob, docs_blob, toks_blob = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local n = #rows / 4
local ids, names, pairs_id, pairs_doc, pairs_tok = {}, {}, {}, {}, {}
local pi, pd, pt = 1, 1, 1
for i = 1, n do
  local li, ld, lt = struct.unpack('<I4I4I4', sizes, (i - 1) * 12 + 1)
  local id = string.sub(ids_blob, pi, pi + li - 1)
  local r = string.format('%d', struct.unpack('>I4', rows, (i - 1) * 4 + 1))
  ids[i], names[i] = id, r
  pairs_id[#pairs_id + 1] = id; pairs_id[#pairs_id + 1] = r
  pairs_doc[#pairs_doc + 1] = r; pairs_doc[#pairs_doc + 1] = string.sub(docs_blob, pd, pd + ld - 1)
  pairs_tok[#pairs_tok + 1] = r; pairs_tok[#pairs_tok + 1] = string.sub(toks_blob, pt, pt + lt - 1)
  pi, pd, pt = pi + li, pd + ld, pt + lt
end
need(P .. 'id', 'hash'); need(P .. 'doc', 'hash'); need(P .. 'tok', 'hash'); need(P .. 'fields', 'set')
local W, L = tonumber(ARGV[8]), tonumber(ARGV[9])
local buckets, per_bucket, fields, per_field, entries = ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14]
local keys = {}
for k = 1, #buckets / W do keys[k] = P .. 'p:' .. string.sub(buckets, (k - 1) * W + 1, k * W) end
local clash = nil
for s = 1, n, 1000 do
  local taken = redis.call('HMGET', P .. 'id', unpack(ids, s, math.min(s + 999, n)))
  for i = 1, #taken do
    if taken[i] then
      -- rows come from INCRBY: only this very chunk can have put an id at one of them
      if taken[i] == names[s + i - 1] then return {'done'} end
      clash = clash or ids[s + i - 1]
    end
  end
end
if clash then return {'taken', clash} end
-- read (and check: type, whole rows) every posting this chunk extends before writing
-- anything; HMGET fails on a key of another type (one call per bucket, no TYPE)
local writes, f, at = {}, 0, 1
for k = 1, #keys do
  local nf = struct.unpack('<I4', per_bucket, k * 4 - 3)
  local flds = {}
  for i = 1, nf do flds[i] = string.sub(fields, (f + i - 1) * L + 1, (f + i) * L) end
  local pairs_p = {}
  for s = 1, nf, 1000 do
    local old = rcall('HMGET', keys[k], unpack(flds, s, math.min(s + 999, nf)))
    for i = 1, #old do
      local o, j = old[i] or '', s + i - 1
      if #o % 4 ~= 0 then fail(keys[k], 'holds a posting of ' .. #o .. ' bytes, not a multiple of 4') end
      local c = struct.unpack('<I4', per_field, (f + j - 1) * 4 + 1)
      pairs_p[2 * j - 1] = flds[j]
      pairs_p[2 * j] = o .. string.sub(entries, at, at + 4 * c - 1)
      at = at + 4 * c
    end
  end
  writes[k] = pairs_p
  f = f + nf
end
call_sliced('HSET', P .. 'id', pairs_id, 2000, {})
call_sliced('HSET', P .. 'doc', pairs_doc, 2000, {})
call_sliced('HSET', P .. 'tok', pairs_tok, 2000, {})
for k = 1, #keys do call_sliced('HSET', keys[k], writes[k], 2000, {}) end
call_sliced('SADD', P .. 'fields', cjson.decode(ARGV[2]), 1000, {})
return {'ok'}
