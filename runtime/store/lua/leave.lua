-- A replica that closes hands its pending signals back to the group: each
-- is re-added as a new entry (so any other replica reads it at once instead
-- of reclaiming it a lease TTL later) and the old one is acked and deleted;
-- then the consumer leaves the group. The executor closes the store only
-- after its workers have released their contacts, so these signals are
-- ones it read ahead and never served.
-- KEYS[1] signal stream; ARGV[1] group, ARGV[2] consumer
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 10000, ARGV[2])
for _, p in ipairs(pending) do
  local id = p[1]
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if #entry > 0 then
    redis.call('XADD', KEYS[1], '*', unpack(entry[1][2]))
  end
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return #pending
