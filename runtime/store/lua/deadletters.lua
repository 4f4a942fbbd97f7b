-- List dead letters, oldest first, after forgetting those past retention.
-- KEYS[1] dead letters, KEYS[2] dead letter index
-- ARGV[1] retention ms, ARGV[2] max dead letters, ARGV[3] limit
-- Returns {id, at ms, record, ...}.
trim_dead(KEYS[1], KEYS[2], now_ms() - tonumber(ARGV[1]), tonumber(ARGV[2]))
local out = {}
local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
for i = 1, #ids, 2 do
  local rec = redis.call('HGET', KEYS[1], ids[i])
  if rec then
    out[#out + 1] = ids[i]
    out[#out + 1] = ids[i + 1]
    out[#out + 1] = rec
  end
end
return out
