-- Enqueue on a single Redis (not Cluster), where one script may touch a
-- contact's keys and the signal stream: append the items, then signal the
-- contact unless a worker holds it — the holder's releasing commit or
-- release sees the items and goes on with them or signals them, and if the
-- holder dies its own pending signal is reclaimed. Otherwise always, even
-- when every item was a duplicate (see Enqueue).
-- KEYS[1] inbox, KEYS[2] dedupe, KEYS[3] signal stream, KEYS[4] lease
-- ARGV as enqueue.lua, then the contact.
-- Returns the number of items appended.
local accepted = enqueue_items(KEYS[1], KEYS[2], ARGV)
if redis.call('EXISTS', KEYS[4]) == 0 then
  redis.call('XADD', KEYS[3], '*', 'c', ARGV[#ARGV])
end
return accepted
