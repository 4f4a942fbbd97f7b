-- Remove this replica's consumer from the group if it holds no pending
-- signals (deleting it would drop them).
-- KEYS[1] signal stream; ARGV[1] group, ARGV[2] consumer
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
