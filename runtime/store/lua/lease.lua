-- Try to take a contact's lease for a signal (see take_lease); when another
-- worker holds the contact, settle this signal at once (ack_if_redundant).
-- KEYS[1] lease, KEYS[2] state, KEYS[3] inbox, KEYS[4] signal stream
-- ARGV[1] token, ARGV[2] signal stream ID, ARGV[3] TTL ms, ARGV[4] owner,
-- ARGV[5] group
-- Returns as take_lease; held by another worker: {0, sig, settled (1)}.
local res = take_lease(KEYS, ARGV)
if res[1] == 0 then
  ack_if_redundant(KEYS[4], ARGV[5], ARGV[2], res[2])
  return {0, res[2], 1}
end
return res
