package store

import (
	"context"
	"time"
)

// Observed is what a store keeps for people who look at a flow rather than
// for running it: the last events of each contact, and an index of the
// contacts waiting at each node (the session inspector's answers and the
// chatflow_node_waiting gauge). Both stores implement it.
//
// It is written after the commit of a turn, not with it, and best effort:
// a note lost to a crash leaves the index behind until the contact's next
// turn. So readers check what the index says against the contact's state
// (Peek) and remove the stale entries they find (Unindex), and a count may
// be off by the entries not checked yet.
//
// Redis keys, next to the store's own (see the package doc):
//
//	chatflow:<ns>:{<ns>|<c>}:events      list of the contact's last events (opaque), trimmed, expiring
//	chatflow:<ns>:{<ns>|<c>}:forgotten   set by Forget: no events recorded while it lives
//	chatflow:<ns>:{<ns>}:waiting:<node>  hash contact -> waiting since (ms)
type Observed interface {
	// Peek returns the states of contacts, in order, without a lease: nil
	// for a contact without one (or with one this flow's key did not
	// seal). It may read a state that a worker is about to replace.
	Peek(ctx context.Context, contacts ...string) ([][]byte, error)
	// Record applies notes, in order.
	Record(ctx context.Context, notes ...Note) error
	// Events returns the contact's recorded events, oldest first.
	Events(ctx context.Context, contact string) ([][]byte, error)
	// Waiting returns contacts indexed at node: a page of about limit
	// entries after cursor ("" for the first page), in no particular
	// order, and the cursor of the next page ("" after the last). A page
	// may hold fewer entries than limit, even none, before the last; an
	// entry may come twice if the index changes during the listing. A
	// cursor the store cannot have handed out is ErrBadCursor (wrapped).
	Waiting(ctx context.Context, node, cursor string, limit int) ([]Waiter, string, error)
	// WaitingCounts counts the contacts indexed at each node, in order.
	WaitingCounts(ctx context.Context, nodes []string) ([]int64, error)
	// Unindex removes stale entries of node: each only if it still says
	// what the reader found (the same Since), so an entry the contact
	// wrote again meanwhile stays.
	Unindex(ctx context.Context, node string, stale ...Waiter) error
	// Forget deletes the contact's events and its entries at each of
	// nodes, whatever they say: the contact was erased (Store.Erase). For
	// hold afterwards, Record drops the contact's events, so that a turn
	// another replica committed just before the erasure, whose note is
	// still on its way, cannot write them back.
	Forget(ctx context.Context, contact string, nodes []string, hold time.Duration) error
}

// Note is what one turn changed for people looking at its contact.
type Note struct {
	Contact string
	// Leave and Enter move the contact in the node index: its entry at
	// Leave is removed, and an entry at Enter (waiting since Since) is
	// set. Either may be empty; Leave == Enter restarts the wait.
	Leave, Enter string
	Since        time.Time
	// Events are appended to the contact's events, of which the last Keep
	// are kept for KeepFor after the last note that added some.
	Events  [][]byte
	Keep    int
	KeepFor time.Duration
	// Forget deletes the contact's events (before appending any Events):
	// the contact's session is gone.
	Forget bool
}

// Waiter is a contact indexed at a node.
type Waiter struct {
	Contact string
	// Since is when the contact started waiting there, to the millisecond.
	Since time.Time
}
