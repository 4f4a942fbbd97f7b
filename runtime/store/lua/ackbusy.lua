-- Acknowledge a signal whose contact is leased, if that is safe: when the
-- holder's own signal is still pending, the holder's Release sees this
-- signal's work (stored before the signal) and signals again, or, if the
-- holder dies, its pending signal is reclaimed. A lease can come from a
-- signal acknowledged meanwhile (a duplicate delivery); then this signal is
-- kept pending to stand for the work.
-- KEYS[1] signal stream; ARGV[1] group, ARGV[2] this signal, ARGV[3] the
-- holder's signal
-- Returns 1 acknowledged, 0 kept.
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1) == 0 then
  return 0
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
