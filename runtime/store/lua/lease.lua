-- Try to take a contact's lease for a signal (see take_lease).
-- KEYS[1] lease, KEYS[2] state, KEYS[3] inbox, KEYS[4] outbox
-- ARGV[1] token, ARGV[2] signal stream ID, ARGV[3] TTL ms, ARGV[4] owner
return take_lease(KEYS, ARGV)
