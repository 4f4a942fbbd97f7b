package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Item is one unit of work for a contact: an inbound message, a fired timer,
// a manual run. The store keeps its payload as opaque bytes.
type Item struct {
	// ID is the dedupe key, e.g. "wa:wamid.X" or "timer:<id>". Empty means
	// the item is never deduplicated against other items.
	ID      string
	Payload []byte
	// Forged is set on an item read back from the store that this flow's
	// key did not seal (written by something else that reached Redis), or
	// that does not decode. It must not be processed: consume it with a
	// Commit.DeadLetter instead. Never set on items passed to Enqueue.
	Forged bool
}

// Timer is a durable timer of one contact. When At has passed it becomes an
// inbox item of that contact with ID "timer:"+ID and the same Payload.
type Timer struct {
	ID      string
	At      time.Time
	Payload []byte
}

// Lease is the exclusive right to work on one contact until it expires. It
// is not safe for concurrent Commit calls; Renew may run concurrently with
// the other methods.
type Lease struct {
	Contact string
	Token   string

	sig string // stream id of the signal that granted it (redis); acked on Release
	seq int64  // commits applied under this lease; makes a retried commit idempotent
	// released: by Release or a Commit with Release; the lease is gone.
	released bool
	// prefetched is the snapshot read with the lease grant, or by a
	// releasing commit that found work left (redis), handed out by the
	// next Load.
	prefetched *Snapshot
}

// Released reports whether the lease was given up, by Release or by a
// Commit with Release that found no work left.
func (l *Lease) Released() bool { return l.released }

// Snapshot is what a lease holder sees of its contact.
type Snapshot struct {
	State []byte // nil when none was stored (or it was forged: see StateForged)
	Inbox []Item // oldest first
	// StateForged says a stored state was dropped because this flow's key
	// did not seal it: the contact starts over.
	StateForged bool
}

// Commit is one atomic change of a contact, applied only while the lease is
// still held.
type Commit struct {
	State       []byte // stored when non-nil; nil keeps the current state
	DeleteState bool   // removes the state (wins over State)
	// Consumed items are popped from the inbox head, atomically with the
	// state write: this is what makes a state transition happen exactly once
	// per item.
	Consumed int
	// DeadLetter, when not empty, is why the first consumed item could not
	// be processed (a panic, a forged or undecodable item): that item is
	// kept in the flow's dead letters with this reason instead of being
	// dropped, for DeadLetters and RetryDeadLetter.
	DeadLetter   string
	SetTimers    []Timer  // replaces timers with the same ID
	CancelTimers []string // IDs; unknown or already fired IDs are ignored
	// Release gives the contact up once the commit is applied, in the same
	// round trip, unless work is left (items that arrived meanwhile): then
	// the lease is kept and the next Load returns that work (on Redis
	// without a round trip), so the holder goes on at once instead of the
	// contact being signalled and leased again. Lease.Released tells which.
	// A released lease is gone: Commit and Renew report ErrLeaseLost,
	// Release does nothing. If a releasing commit is retried after an
	// error although its first attempt was applied and released, the retry
	// finds no lease and reports ErrLeaseLost: it was still applied once.
	Release bool
}

// DeadLetter is an item a turn could not process, kept for inspection and
// retry.
type DeadLetter struct {
	ID      string
	Contact string
	// Item is the item as it was queued; Forged is set when it fails the
	// flow key's check (it cannot be retried).
	Item   Item
	Reason string
	At     time.Time
}

// Erased counts what Erase removed of a contact.
type Erased struct {
	Session       bool `json:"session"`
	InboxItems    int  `json:"inboxItems"`
	Timers        int  `json:"timers"`
	DedupeRecords int  `json:"dedupeRecords"`
	DeadLetters   int  `json:"deadLetters"`
}

// Stats is a cheap snapshot of the store's queues, for metrics.
type Stats struct {
	// Signals are notifications of work not yet acknowledged: redis counts
	// the entries of the signal stream, memory the contacts queued or leased.
	Signals int64
	// InFlight signals were delivered to a worker and are not acknowledged
	// yet (being worked on, or waiting to be reclaimed).
	InFlight int64
	// Timers scheduled. Redis counts index entries, which may include
	// cancelled timers not yet swept.
	Timers int64
	// InboxItems waiting in all inboxes, the item being worked on
	// included. Redis sums the inboxes of the contacts with a signal,
	// extrapolating beyond the first 10,000 of them.
	InboxItems int64
	// DeadLetters kept.
	DeadLetters int64
}

var (
	// ErrLeaseLost is returned by Load, Commit and Renew when the lease
	// expired or was taken over; nothing was written.
	ErrLeaseLost = errors.New("store: lease lost")
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrInboxFull is returned (wrapped) by Enqueue when the contact's
	// inbox holds Options.MaxInbox items: the items that did not fit were
	// refused and not remembered, so the sender may retry them later.
	ErrInboxFull = errors.New("store: the contact's inbox is full")
	// ErrStoreFull is returned (wrapped) when Redis refuses a write for
	// want of memory (maxmemory reached under maxmemory-policy noeviction):
	// nothing was written; the caller answers 503 and the channel retries.
	ErrStoreFull = errors.New("store: the session store is out of memory")
	// ErrBadCursor is returned (wrapped) by Observed.Waiting for a cursor
	// that no listing of this store handed out: the caller's mistake.
	ErrBadCursor = errors.New("store: invalid cursor")
	// ErrNotFound is returned by RetryDeadLetter for an unknown id.
	ErrNotFound = errors.New("store: not found")
	// ErrForged is returned by RetryDeadLetter for a dead letter whose item
	// this flow's key did not seal: retrying it would only refuse it again.
	ErrForged = errors.New("store: the item was not sealed with this flow's key")
)

// Store is the session store of one flow. See the package doc for the
// guarantees.
type Store interface {
	// Enqueue appends items to the contact's inbox in order, skipping items
	// whose ID was seen within DedupeTTL (also earlier in the same call). The
	// items are durable when it returns nil. After an error they may or may
	// not be stored: retrying with the same IDs is safe (items without ID
	// would be stored twice). It signals the contact even when every item
	// was a duplicate, so a retry after a failure between the append and the
	// signal still gets the work noticed — unless a live worker holds the
	// contact: the holder's releasing Commit or Release sees the items and
	// goes on with them or makes the contact available again. Items beyond
	// Options.MaxInbox are refused with ErrInboxFull (the oldest are kept).
	Enqueue(ctx context.Context, contact string, items ...Item) (accepted int, err error)
	// Acquire blocks until some contact has work nobody holds and returns a
	// lease on it. Cancelling ctx returns ctx.Err(). Another error means the
	// backend failed: back off and call it again (no work is lost).
	Acquire(ctx context.Context) (*Lease, error)
	// Load returns the contact's state and inbox.
	Load(ctx context.Context, l *Lease) (*Snapshot, error)
	// Commit applies c atomically and refreshes the lease; ErrLeaseLost means
	// nothing was written. After another error the outcome is unknown: retry
	// the same Commit with the same lease (it is applied at most once), or
	// Release and start over from Load.
	Commit(ctx context.Context, l *Lease, c Commit) error
	// Renew extends the lease by LeaseTTL.
	Renew(ctx context.Context, l *Lease) error
	// Release gives the contact up. If its inbox is not empty the contact
	// becomes available again. Releasing a lost lease is not an error.
	Release(ctx context.Context, l *Lease) error
	// DeadLetters returns up to limit dead letters, oldest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// RetryDeadLetter queues a dead letter's item again at the end of its
	// contact's inbox (bypassing dedupe) and forgets the dead letter.
	RetryDeadLetter(ctx context.Context, id string) error
	// Erase deletes everything the store keeps of a contact: session,
	// inbox, timers, dedupe records, dead letters and its lease (a worker
	// holding it loses it and writes nothing back).
	Erase(ctx context.Context, contact string) (Erased, error)
	// Ping reports whether the backend answers (for /readyz).
	Ping(ctx context.Context) error
	// Stats reports queue depths (for metrics).
	Stats(ctx context.Context) (Stats, error)
	// Close stops the store's background work and releases its resources.
	// Leases still held expire on their own.
	Close() error
}

// PasswordEnv is the environment variable an executor reads the store's
// password from (the operator sets it from the flow's store Secret): a
// password in the URL would be in the process's arguments, which every
// process of the node can read.
const PasswordEnv = "CHATFLOW_STORE_PASSWORD"

// Budgets the store enforces, as Options.Dropped reports them.
const (
	// BudgetDeadLetters: the oldest dead letters beyond MaxDeadLetters were
	// dropped.
	BudgetDeadLetters = "dead_letters"
)

// Options configure a store. The zero value is usable.
type Options struct {
	// Namespace names the flow, "<namespace>/<flow>": every Redis key of
	// the flow carries it as its hash tag, and items are sealed for it. It
	// must not contain '{' or '}'.
	Namespace string
	// Password authenticates to Redis, in place of one in the URL (which
	// would show in the process's arguments when the URL is a flag).
	Password string
	// ItemKey is the flow's secret key: every queued item, timer and state
	// is sealed with an HMAC under it and checked when it is read back, so
	// that something else that reaches Redis cannot queue work for this
	// flow. Empty: a key derived from Namespace, which binds items to the
	// flow but is no secret (development only).
	ItemKey []byte
	// LeaseTTL is how long a lease lives without Commit or Renew; a crashed
	// worker's contact is taken over after about this long. Default 30s.
	LeaseTTL time.Duration
	// DedupeTTL is how long an item ID is remembered. Default 7 days.
	DedupeTTL time.Duration
	// SessionIdleTimeout is how long a contact's state and timers are kept
	// after its last commit (or after its last timer is due, if later).
	// Default 30 days.
	SessionIdleTimeout time.Duration
	// MaxInbox bounds the items waiting in one contact's inbox. Default
	// 1000.
	MaxInbox int
	// MaxDeadLetters bounds the flow's dead letters: beyond it the oldest
	// are dropped (reported through Dropped). Default 10,000. They are also
	// forgotten after SessionIdleTimeout.
	MaxDeadLetters int
	// Dropped, when set, is told when the store dropped data to stay within
	// a budget (BudgetDeadLetters), and how much.
	Dropped func(budget string, n int)
	// Owner names this replica (pod name); it shows up in Redis for
	// debugging. Default: hostname-pid.
	Owner string
	// Clock is the memory store's time source, injectable for tests. The
	// redis store uses the Redis server's clock for leases, dedupe and
	// retention, and time.Now for timers.
	Clock func() time.Time
}

const (
	defaultLeaseTTL       = 30 * time.Second
	defaultDedupeTTL      = 7 * 24 * time.Hour
	defaultIdleTimeout    = 30 * 24 * time.Hour
	defaultMaxInbox       = 1000
	defaultMaxDeadLetters = 10000
)

func (o Options) withDefaults() (Options, error) {
	if strings.ContainsAny(o.Namespace, "{}") {
		// A brace would move the Redis Cluster hash tag of every key.
		return o, fmt.Errorf("store: namespace %q must not contain '{' or '}'", o.Namespace)
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = defaultLeaseTTL
	}
	if o.DedupeTTL <= 0 {
		o.DedupeTTL = defaultDedupeTTL
	}
	if o.SessionIdleTimeout <= 0 {
		o.SessionIdleTimeout = defaultIdleTimeout
	}
	if o.MaxInbox <= 0 {
		o.MaxInbox = defaultMaxInbox
	}
	if o.MaxDeadLetters <= 0 {
		o.MaxDeadLetters = defaultMaxDeadLetters
	}
	if o.Dropped == nil {
		o.Dropped = func(string, int) {}
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o, nil
}

// Open returns the store named by spec, a URL ParseURL accepts.
func Open(ctx context.Context, spec string, opts Options) (Store, error) {
	u, err := ParseURL(spec)
	if err != nil {
		return nil, err
	}
	if u.Memory {
		if _, err := opts.withDefaults(); err != nil {
			return nil, err
		}
		return NewMemory(opts), nil
	}
	return NewRedis(ctx, spec, opts)
}

func checkContact(contact string) error {
	if contact == "" {
		return errors.New("store: empty contact")
	}
	return nil
}
