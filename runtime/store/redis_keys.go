package store

// keyspace names the Redis keys of one namespace (one flow).
//
// Every key of a contact carries the hash tag {<namespace>|<contact>}, so all
// of them live in one Redis Cluster slot and one Lua script may touch them
// together. A brace inside the contact only shortens the tag; it stays the
// same for all keys of that contact, and the fixed key suffixes (which
// contain no '}') keep key names unambiguous. The global keys have their own
// tag {<namespace>} and are each touched alone.
type keyspace struct {
	contactPrefix string // chatflow:<ns>:{<ns>|
	signals       string // stream of contacts with work; consumer group "workers"
	timerIndex    string // zset of timer entries by due time (ms)
}

type contactKeys struct {
	inbox  string // list of encoded items
	state  string // string
	outbox string // list
	lease  string // hash: tok, sig, seq, last, owner; expires with the lease
	dedupe string // zset: item ID -> forget-after (server ms)
	timers string // hash: timer ID -> nonce .. payload
}

func newKeyspace(ns string) keyspace {
	return keyspace{
		contactPrefix: "chatflow:" + ns + ":{" + ns + "|",
		signals:       "chatflow:" + ns + ":{" + ns + "}:signals",
		timerIndex:    "chatflow:" + ns + ":{" + ns + "}:timers",
	}
}

func (k keyspace) contact(c string) contactKeys {
	base := k.contactPrefix + c + "}:"
	return contactKeys{
		inbox:  base + "inbox",
		state:  base + "state",
		outbox: base + "outbox",
		lease:  base + "lease",
		dedupe: base + "dedupe",
		timers: base + "timers",
	}
}
