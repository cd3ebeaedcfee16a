-- ARGV: prefix, fields json, sizes (n x 3 little-endian uint32: id, document and
-- token bytes), rows (n x 4-byte big-endian), ids, documents, token blobs (each
-- concatenated), shards (4 hex chars each), member counts (uint32 LE per shard),
-- the members (12 bytes each, grouped by shard, concatenated: one argument
-- instead of one per member).
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
local shards = ARGV[8]
for k = 1, #shards / 4 do need(P .. 'lsh:' .. string.sub(shards, k * 4 - 3, k * 4), 'zset') end
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
call_sliced('HSET', P .. 'id', pairs_id, 2000, {})
call_sliced('HSET', P .. 'doc', pairs_doc, 2000, {})
call_sliced('HSET', P .. 'tok', pairs_tok, 2000, {})
local counts, members = ARGV[9], ARGV[10]
local at = 1
for k = 1, #shards / 4 do
  local key = P .. 'lsh:' .. string.sub(shards, k * 4 - 3, k * 4)
  local m = struct.unpack('<I4', counts, k * 4 - 3)
  local args = {}
  for i = 0, m - 1 do
    args[2 * i + 1] = '0'
    args[2 * i + 2] = string.sub(members, at, at + 11)
    at = at + 12
  end
  call_sliced('ZADD', key, args, 2000, {})
end
call_sliced('SADD', P .. 'fields', cjson.decode(ARGV[2]), 1000, {})
return {'ok'}
