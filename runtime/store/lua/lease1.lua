-- Take a lease on a single Redis (not Cluster), where one script may touch
-- a contact's keys and the signal stream: take_lease, and when another
-- worker holds the contact, settle this signal at once (ack_if_redundant)
-- instead of in a second call.
-- KEYS[1] lease, KEYS[2] state, KEYS[3] inbox, KEYS[4] outbox, KEYS[5]
-- signal stream
-- ARGV as lease.lua, then ARGV[5] group
-- Returns as lease.lua; held by another worker: {0, sig, settled (1)}.
local res = take_lease(KEYS, ARGV)
if res[1] == 0 then
  ack_if_redundant(KEYS[5], ARGV[5], ARGV[2], res[2])
  return {0, res[2], 1}
end
return res
