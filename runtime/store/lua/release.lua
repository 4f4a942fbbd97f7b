-- Give a lease up (if still ours), signal the contact again when work is
-- left, then acknowledge the lease's signal.
-- KEYS[1] lease, KEYS[2] inbox, KEYS[3] signal stream
-- ARGV[1] token, ARGV[2] contact, ARGV[3] group, ARGV[4] the lease's signal ('' if none)
-- Returns the number of inbox items.
local left = release_lease(KEYS[1], KEYS[2], ARGV[1])
resignal_and_ack(KEYS[3], left, ARGV[2], ARGV[3], ARGV[4])
return left
