-- Release on a single Redis (not Cluster), where one script may touch a
-- contact's keys and the signal stream: give the lease up, signal the
-- contact again when work is left, then acknowledge the lease's signal. The
-- same three steps as the Cluster path, in the same order, in one round trip.
-- KEYS[1] lease, KEYS[2] inbox, KEYS[3] outbox, KEYS[4] signal stream
-- ARGV[1] token, ARGV[2] contact, ARGV[3] group, ARGV[4] the lease's signal ('' if none)
-- Returns the number of inbox items plus outbox entries.
local left = release_lease(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
resignal_and_ack(KEYS[4], left, ARGV[2], ARGV[3], ARGV[4])
return left
