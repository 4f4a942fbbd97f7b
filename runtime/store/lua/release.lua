-- Give a lease up (if still ours) and report the work left.
-- KEYS[1] lease, KEYS[2] inbox, KEYS[3] outbox; ARGV[1] token
-- Returns the number of inbox items plus outbox entries.
return release_lease(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
