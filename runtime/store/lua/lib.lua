-- Functions shared by the scripts (prepended to each of them, after the
-- prelude). Each takes its keys as arguments, so a script decides which
-- keys it touches and passes them in KEYS. Every key of a flow shares one
-- hash tag: a script may touch a contact's keys and the flow's together.

-- "<len(s)>:<s>", as the Go side encodes strings.
local function lp(s)
  return string.len(s) .. ':' .. s
end

-- The timer index entry of a stored timer (its value starts with its
-- nonce): "<nonce>:<len(contact)>:<contact><timer id>".
local function timer_member(value, contact, id)
  return string.sub(value, 1, 16) .. ':' .. lp(contact) .. id
end

-- Append new items to an inbox, skipping IDs seen before, as long as the
-- inbox holds fewer than max items: those that do not fit are refused and
-- not remembered, so a retry later is not taken for a duplicate.
-- args: n, then n triples: dedupe ID ('' = none), TTL ms, encoded item.
-- Returns the number of items appended and the number refused.
local function enqueue_items(inbox, dedupe, args, max)
  local now = now_ms()
  redis.call('ZREMRANGEBYSCORE', dedupe, '-inf', now)
  local room = max - redis.call('LLEN', inbox)
  local accepted, refused, remembered = 0, 0, false
  for i = 0, tonumber(args[1]) - 1 do
    local id, ttl, item = args[2 + 3 * i], tonumber(args[3 + 3 * i]), args[4 + 3 * i]
    if id == '' or not redis.call('ZSCORE', dedupe, id) then
      if room <= 0 then
        refused = refused + 1
      else
        if id ~= '' then
          redis.call('ZADD', dedupe, now + ttl, id)
          remembered = true
        end
        redis.call('RPUSH', inbox, item)
        accepted = accepted + 1
        room = room - 1
      end
    end
  end
  if remembered then
    -- The whole set goes when its youngest record would: idle contacts
    -- leave nothing behind.
    local last = redis.call('ZRANGE', dedupe, -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', dedupe, last[2])
  end
  return accepted, refused
end

-- Whether a signal for a contact leased by a holder whose lease came from
-- signal holder would be redundant: when the holder's own signal is still
-- pending, the holder sees the work (stored before the signal) before it
-- releases, or, if the holder dies, its pending signal is reclaimed. A
-- lease can come from a signal acknowledged meanwhile (a duplicate
-- delivery); then a new signal must stand for the work.
local function backed(stream, group, holder)
  return #redis.call('XPENDING', stream, group, holder, holder, 1) > 0
end

-- Signal a contact that has new work, unless a worker holds it under a
-- signal still pending (see backed).
local function signal_unless_backed(stream, group, lease, contact)
  local holder = redis.call('HGET', lease, 'sig')
  if not (holder and backed(stream, group, holder)) then
    redis.call('XADD', stream, '*', 'c', contact)
  end
end

-- Acknowledge a signal whose contact is leased, if it is redundant
-- (backed). Returns 1 acknowledged, 0 kept.
local function ack_if_redundant(stream, group, sig, holder)
  if not backed(stream, group, holder) then
    return 0
  end
  redis.call('XACK', stream, group, sig)
  redis.call('XDEL', stream, sig)
  return 1
end

-- Forget dead letters older than before (ms) and, beyond max, the oldest.
-- Returns how many were dropped for max (a budget that bit; the old ones
-- just reached their retention).
local function trim_dead(hash, index, before, max)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. before)) do
    redis.call('HDEL', hash, id)
    redis.call('ZREM', index, id)
  end
  local over = redis.call('ZCARD', index) - max
  if over <= 0 then
    return 0
  end
  for _, id in ipairs(redis.call('ZRANGE', index, 0, over - 1)) do
    redis.call('HDEL', hash, id)
    redis.call('ZREM', index, id)
  end
  return over
end

-- Apply one commit under the lease, all or nothing.
-- keys: lease, state, inbox, timers, timer index, signal stream, dead
-- letters, dead letter index, the contact's dead letter set.
-- args: token, commits already applied under this lease (seq), lease TTL
-- ms, state mode (0 keep, 1 set, 2 delete), state, items consumed, digest
-- of the commit's content, release after applying (0/1), session idle ms,
-- dead letter reason ('' none), its id, max dead letters, contact, group,
-- the lease's signal; then n timers to set, (ID, value, due ms, index
-- member) quadruples; n timers to cancel, the IDs.
-- Returns the outcome — 1 applied; 2 applied before (a retry: same
-- sequence number and digest as the last commit); 0 lease lost or out of
-- sequence; -2 inbox too short — and the dead letters dropped for the
-- budget.
local function apply_commit(keys, args)
  local lease, state, inbox, timers, index = keys[1], keys[2], keys[3], keys[4], keys[5]
  local contact = args[13]
  local nset = tonumber(args[16])
  local sets = 17
  local ncancel = tonumber(args[sets + 4 * nset])
  local cancels = sets + 4 * nset + 1

  if redis.call('HGET', lease, 'tok') ~= args[1] then
    return 0, 0
  end
  local seq, want = tonumber(redis.call('HGET', lease, 'seq')), tonumber(args[2])
  if seq == want + 1 and redis.call('HGET', lease, 'last') == args[7] then
    redis.call('PEXPIRE', lease, args[3])
    return 2, 0
  end
  if seq ~= want then
    return 0, 0
  end
  local consumed = tonumber(args[6])
  if consumed > redis.call('LLEN', inbox) then
    return -2, 0
  end

  local now = now_ms()
  local idle = tonumber(args[9])
  local dropped = 0
  if args[10] ~= '' and consumed > 0 then
    local head = redis.call('LINDEX', inbox, 0)
    redis.call('HSET', keys[7], args[11], lp(contact) .. lp(args[10]) .. head)
    redis.call('ZADD', keys[8], now, args[11])
    redis.call('SADD', keys[9], args[11])
    redis.call('PEXPIRE', keys[9], idle)
    dropped = trim_dead(keys[7], keys[8], now - idle, tonumber(args[12]))
  end
  -- The session is kept idle ms after this commit, and after its last
  -- timer is due if that is later (a Delay of weeks must find it); read
  -- before SET, which clears the expiry.
  local keep = now + idle
  local left = redis.call('PTTL', state)
  if left > 0 then
    keep = math.max(keep, now + left)
  end
  if args[4] == '1' then
    redis.call('SET', state, args[5])
  elseif args[4] == '2' then
    redis.call('DEL', state)
  end
  if consumed > 0 then
    redis.call('LTRIM', inbox, consumed, -1)
  end
  -- A cancelled or replaced timer takes its index entry with it, so the
  -- index holds only timers that may still fire.
  local function unset(id)
    local old = redis.call('HGET', timers, id)
    if old then
      redis.call('HDEL', timers, id)
      redis.call('ZREM', index, timer_member(old, contact, id))
    end
  end
  for j = 0, ncancel - 1 do
    unset(args[cancels + j])
  end
  for j = 0, nset - 1 do
    local k = sets + 4 * j
    unset(args[k])
    redis.call('HSET', timers, args[k], args[k + 1])
    redis.call('ZADD', index, args[k + 2], args[k + 3])
    keep = math.max(keep, tonumber(args[k + 2]) + idle)
  end
  redis.call('PEXPIREAT', state, keep)
  redis.call('PEXPIREAT', timers, keep)
  redis.call('HINCRBY', lease, 'seq', 1)
  redis.call('HSET', lease, 'last', args[7])
  redis.call('PEXPIRE', lease, args[3])
  return 1, dropped
end

-- Give a lease up if it is the token's, and report the work left: the
-- number of inbox items.
local function release_lease(lease, inbox, token)
  if redis.call('HGET', lease, 'tok') == token then
    redis.call('DEL', lease)
  end
  return redis.call('LLEN', inbox)
end

-- After a release: signal the contact again when work is left, then
-- acknowledge the lease's signal (sig, '' if none) — in this order, so the
-- stream always holds a signal for open work.
local function resignal_and_ack(stream, left, contact, group, sig)
  if left > 0 then
    redis.call('XADD', stream, '*', 'c', contact)
  end
  if sig ~= '' then
    redis.call('XACK', stream, group, sig)
    redis.call('XDEL', stream, sig)
  end
end

-- Take a contact's lease for a signal.
-- keys: lease (hash: tok, sig, seq, owner), state, inbox.
-- args: token, signal stream ID, TTL ms, owner.
-- Returns {1, state or nil, inbox} granted (also when this token already
-- holds it: a retried call), with what Load would read, so the holder's
-- first Load costs no round trip; {-1} held, and this very signal granted
-- that lease: it must stay pending so the work is reclaimed if the holder
-- dies; {0, sig} held by another worker whose lease came from signal sig.
local function take_lease(keys, args)
  local lease, state, inbox = keys[1], keys[2], keys[3]
  local cur = redis.call('HGET', lease, 'tok')
  if not cur then
    redis.call('HSET', lease, 'tok', args[1], 'sig', args[2], 'seq', 0, 'owner', args[4])
    redis.call('PEXPIRE', lease, args[3])
  elseif cur ~= args[1] then
    local sig = redis.call('HGET', lease, 'sig')
    if sig == args[2] then
      return {-1}
    end
    return {0, sig}
  end
  return {1, redis.call('GET', state), redis.call('LRANGE', inbox, 0, -1)}
end

-- After a commit that asked to release: when work is left (inbox items),
-- keep the lease and return {outcome, work left, dropped, state, inbox},
-- the holder's next Load; else give the lease up and return nil.
local function release_unless_work_left(r, dropped, lease, state, inbox, token)
  local left = redis.call('LLEN', inbox)
  if left > 0 then
    return {r, left, dropped, redis.call('GET', state), redis.call('LRANGE', inbox, 0, -1)}
  end
  release_lease(lease, inbox, token)
  return nil
end
