// Package store is the executor's session store: per contact, an inbox of
// work items, the flow state and durable timers; per flow, the dead letters
// (items a turn could not process); plus the leases that make one worker
// (of any replica) at a time work on a contact. It owns the Redis key
// layout and Lua scripts and the in-memory equivalent.
//
// State and items are opaque bytes: the store knows nothing about flows,
// channels or messages, and must not import runtime/flow, runtime/channel,
// runtime/executor or runtime/expr.
//
// # How the executor uses it
//
//	lease := Acquire(ctx)       // blocks until some contact has work nobody holds
//	for {
//	    snap := Load(ctx, lease) // state + inbox in order (on Redis read already by Acquire or Commit)
//	    for each inbox item:
//	        state', effects := Step(state, item); perform the effects
//	        Commit(State: state', Consumed: 1, SetTimers/CancelTimers, Release: last item)
//	    if lease.Released() { break } // else items arrived meanwhile: go on with them
//	}
//	Release(ctx, lease)         // after an error or an empty snapshot; a no-op once released
//
// The executor performs a turn's effects before the commit that consumes its
// item, so a crash in between replays the turn (sends at-least-once, state
// exactly-once). A turn that cannot be processed (a panic, a forged item)
// consumes its item with Commit.DeadLetter: it is kept, with the reason,
// for DeadLetters and RetryDeadLetter.
//
// A webhook answers 200 only after Enqueue returned nil.
//
// # Guarantees (both stores)
//
//   - Per contact, items are seen in Enqueue order and one worker holds the
//     contact at a time, across replicas.
//   - An item ID is remembered for DedupeTTL (7 days), also within one
//     Enqueue call and after the item was consumed; items without ID are
//     never deduplicated against each other.
//   - A Commit pops Consumed items from the inbox atomically with the state
//     write, and only under a live lease (ErrLeaseLost otherwise, with
//     nothing written): each item changes the state exactly once. A Commit
//     retried with the same lease after an error is applied at most once (a
//     per-lease sequence number and a digest of the last commit); a
//     different commit with a stale lease copy is refused with ErrLeaseLost.
//   - A lease that is neither committed nor renewed expires after LeaseTTL,
//     and the contact is taken over by another worker or replica.
//   - A due timer becomes the inbox item {ID: "timer:"+ID, Payload} exactly
//     once, whichever replicas race; SetTimers with an existing ID replaces
//     it; CancelTimers of a timer that fired already is a no-op (the
//     executor ignores stale timer items). An ID that fired may be set again.
//   - Acquire may hand out a contact whose work was already done (a
//     left-over signal); Load then shows an empty inbox and the worker just
//     releases it.
//   - Budgets: a contact's inbox holds at most MaxInbox items (the oldest
//     are kept; Enqueue refuses the rest with ErrInboxFull and does not
//     remember their IDs, so the channel's retry is accepted later); the
//     flow keeps at most MaxDeadLetters dead letters (the oldest go,
//     reported through Options.Dropped); state and timers are forgotten
//     SessionIdleTimeout after the contact's last commit, or after its
//     last timer was due if that is later (a cancelled timer's due time
//     still counts); dead letters after SessionIdleTimeout too; dedupe
//     records after DedupeTTL.
//   - Erase removes everything of one contact at once: state, inbox,
//     timers, dedupe records, dead letters and lease.
//
// # Trust
//
// Every key of a flow is named by Options.Namespace ("<namespace>/<flow>"),
// and every item, timer and state the store writes is sealed with an HMAC
// under Options.ItemKey (the flow's own secret) over the flow, the contact,
// the item ID and the payload. Reading back, a seal that does not match
// marks the item Forged (or drops the state: Snapshot.StateForged), so
// something that reaches Redis without the key — another flow's executor,
// any pod on the network — cannot queue work that makes this flow send, nor
// move an item from one contact or flow to another. What it can still do
// is delete, or replay an item the flow itself queued for the same contact
// (Redis AUTH and ACLs are the first line: see docs/security.md).
//
// # Redis
//
// Keys (ns = Options.Namespace, c = contact):
//
//	chatflow:{<ns>}:c:<c>:inbox   list of items, "<len(id)>:<id><seal><payload>"
//	chatflow:{<ns>}:c:<c>:state   string "<seal><state>"; expires SessionIdleTimeout after the last commit
//	chatflow:{<ns>}:c:<c>:lease   hash tok, sig, seq, last, owner; PEXPIRE = lease TTL
//	chatflow:{<ns>}:c:<c>:dedupe  zset item ID -> forget-after ms; expires with its last record
//	chatflow:{<ns>}:c:<c>:timers  hash timer ID -> nonce(16 hex) .. seal .. payload; expires with the state
//	chatflow:{<ns>}:c:<c>:dead    set of the contact's dead letter ids
//	chatflow:{<ns>}:signals       stream of {c}, consumer group "workers"
//	chatflow:{<ns>}:timers        zset "<nonce>:<len(c)>:<c><timer ID>" -> due ms
//	chatflow:{<ns>}:dead          hash dead letter id -> "<len(c)>:<c><len(reason)>:<reason><item>"
//	chatflow:{<ns>}:dead:index    zset dead letter id -> when (ms)
//	chatflow:{<ns>}:campaign:<id>:contacts  hash keyed hash of the contact -> ledger state (campaign.go)
//	chatflow:{<ns>}:campaign:<id>:counts    hash ledger state -> contacts at it
//	chatflow:rate:{<bucket>}      string: GCRA arrival time (µs) of an account's send rate
//
// Every key of a flow shares the hash tag {<ns>}, so the flow lives in one
// Redis Cluster slot and each Lua script (lua/*.lua) touches a contact's
// keys and the flow's shared ones together, in one command, whether the
// server is a single Redis or a Cluster: there is one code path. On Redis
// ≥ 7 the scripts carry a "#!lua" line, so Redis Cluster itself refuses any
// access outside the slot; the test suite runs the whole contract on a
// one-node cluster to prove it. The price is that one flow's keys cannot
// spread over several Cluster nodes, only the flows do: a flow's traffic is
// bounded by its one account's send rate (80 to 1,000 messages a second on
// WhatsApp), far below what one Redis node serves, and its memory by its
// sessions' size and retention. The alternative, a hash tag per contact,
// needs two or three round trips per turn where this needs one, which cost
// a third of the executor's throughput in `make bench` (docs/operations.md).
//
// A turn costs two commands, enqueue and commit (one script each), plus a
// lease (pipelined with the others of its read) when the contact was not
// already held; enqueues and commits that goroutines issue at the same time
// share a pipeline (one write and one read for the batch; redis_batch.go).
// The scripts share their bodies through lua/lib.lua.
//
//   - Enqueue: enqueue.lua appends the new items and records their IDs,
//     then XADD a signal, even when every item was a duplicate (a retry
//     after a failure between the two is what gets the work noticed) —
//     unless the contact is leased under a signal still pending: its
//     holder sees the items before it lets go, and if the holder dies that
//     signal is reclaimed. Most turns of a busy contact so skip the stream
//     altogether.
//   - Acquire: while workers wait, each replica reads with XREADGROUP as many
//     signals as it has workers waiting, takes their contacts' leases in one
//     pipeline (lease.lua: random token, remembering the signal, returning
//     what the first Load reads) and hands them to the waiting workers; a
//     lease that no worker takes within half a second (its Acquire gave up)
//     is released, which signals its work again. If another worker holds a
//     contact, lease.lua acknowledges the signal provided the holder's
//     signal is still pending: the holder sees the work before it lets go,
//     and if the holder dies its signal is reclaimed. Otherwise (the
//     holder's signal was a duplicate delivery, acknowledged meanwhile) the
//     signal stays pending and stands for the work. Every replica
//     XAUTOCLAIMs signals idle longer than LeaseTTL, which is how a crashed
//     replica's contacts are taken over (after one to two LeaseTTLs).
//   - Load, Commit, Renew: load.lua, commit.lua, renew.lua check the token;
//     commit.lua also checks the sequence number (and the digest of a
//     retried commit), then keeps a dead letter, writes state, pops the
//     inbox, cancels and stores timers with their index entries, sets the
//     retention and refreshes the lease, all or nothing. With Release it
//     then gives the lease up and acknowledges its signal if no work is
//     left, else keeps it and returns that work (the continuation the next
//     Load hands out), so a contact that writes again while being served is
//     never signalled, read and leased again.
//   - Release: release.lua deletes the lease if it is ours, XADDs a new
//     signal if work is left, and only then XACK+XDEL the lease's signal, so
//     the stream holds only open work.
//   - Timers: every replica's pump polls the index (250ms); fire.lua moves a
//     timer whose stored nonce matches the entry into the inbox, deletes it
//     — that deletion is what makes a timer fire once — signals the contact
//     and removes the entry. Cancelling or replacing a timer removes its
//     entry; an entry whose timer expired with its session is removed when
//     due.
//   - Dead letters: commit.lua moves the consumed item to the flow's dead
//     letters; deadletters.lua lists them (forgetting those past
//     retention), retry.lua moves one back to its contact's inbox, erase.lua
//     removes a contact's.
//   - Send rates: take.lua is a GCRA bucket per channel account, shared by
//     every flow and replica on the Redis (the operator lets one binding in
//     the cluster hold an account); a stored arrival time beyond what the
//     rate allows is clamped, so a forged bucket throttles for at most one
//     burst.
//
// Departures from the first design, and why:
//
//   - One hash tag per flow instead of per contact: see above.
//   - Dedupe records are one sorted set per contact (ID -> expiry, trimmed on
//     every Enqueue, the key expiring with its newest record) instead of one
//     SET NX EX key per message: a fraction of the memory (no per-key
//     overhead) and no key name built from an untrusted message ID.
//   - Timers are not deduplicated by ID when they fire: the atomic delete of
//     the stored timer already makes a firing unique, and dedupe would
//     silently swallow a timer ID the executor sets again within 7 days.
//   - A signal whose contact is leased is acknowledged rather than left
//     pending when the lease's own signal is pending: otherwise every message
//     of a busy contact would come back through XAUTOCLAIM a LeaseTTL later.
//   - Commits carry a sequence number and items without ID get a private
//     dedupe ID, because go-redis retries a command whose connection broke
//     after sending it, and a script applied twice would pop twice.
//   - No outbox: the executor performs a turn's effects before the commit
//     that consumes its item (a crash replays the turn), so effects are
//     never written ahead.
//
// Durability is Redis's: with appendonly yes and appendfsync always nothing
// acknowledged is lost; with everysec a crash may lose the last second or
// two. Run Redis with maxmemory-policy noeviction: an evicting policy would
// drop sessions, inboxes and leases silently; with noeviction a full Redis
// refuses writes (the executor answers 503 and counts them). Redis ≥ 6.2
// (XAUTOCLAIM) or Valkey; Redis Cluster with "redis+cluster://".
//
// # Memory
//
// NewMemory keeps the same semantics in one process (a mutex, a ready
// queue, and a pump goroutine that fires timers and expires leases every
// 10ms by Options.Clock, and sweeps expired sessions, dedupe records and
// dead letters every second): single replica, for tests and `chatflow
// dev`. Nothing outside the process can write to it, so it does not seal.
package store
