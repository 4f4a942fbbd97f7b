-- Settle a signal whose contact is leased (see ack_if_redundant).
-- KEYS[1] signal stream; ARGV[1] group, ARGV[2] this signal, ARGV[3] the
-- holder's signal
-- Returns 1 acknowledged, 0 kept.
return ack_if_redundant(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
