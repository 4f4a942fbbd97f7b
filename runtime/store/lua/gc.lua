-- Remove consumers of crashed replicas: no pending signals and idle (no read
-- attempt) for long. Live replicas read every few seconds.
-- KEYS[1] signal stream; ARGV[1] group, ARGV[2] minimum idle ms
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed = removed + 1
  end
end
return removed
