package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

const (
	group = "workers" // the one consumer group of a signal stream

	// readBlock bounds a blocking XREADGROUP so the reader notices Close.
	readBlock = time.Second
	// maxRead bounds the signals one read takes.
	maxRead = 64
	// handOverWait is how long a granted lease waits for an Acquire call
	// to take it before it is released: only a call that gave up between
	// the read and the grant leaves one waiting.
	handOverWait = 500 * time.Millisecond
	// timerPoll is how often the pump looks for due timers: the lateness of
	// a timer is at most about this.
	timerPoll = 250 * time.Millisecond
	// autoDedupeTTL covers items without an ID against a retried script
	// call (go-redis retries when a connection breaks after sending).
	autoDedupeTTL = 10 * time.Minute
	// consumerGCIdle: consumers idle this long with nothing pending belong to
	// replicas that are gone.
	consumerGCIdle = time.Hour
	// opTimeout bounds the store's own calls that have no caller context.
	opTimeout = 5 * time.Second
)

type redisStore struct {
	opts     Options
	rdb      redis.UniversalClient
	reader   redis.UniversalClient // own pool: its blocking reads must not starve the others
	keys     keyspace
	seal     *sealer
	lua      *scripts
	batch    *batcher // enqueues and commits in shared pipelines
	consumer string
	ttlMS    int64

	grants chan *Lease // leases of signalled contacts, handed to Acquire
	// waiting counts Acquire calls waiting for a lease; the reader asks
	// for that many signals at once, so a replica with idle workers drains
	// a burst in one read but never takes signals it has no worker for.
	waiting atomic.Int64
	wake    chan struct{} // poked by Acquire, so an idle reader reads
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// signal says that a contact may have work. id is its stream entry.
type signal struct {
	id      string
	contact string
}

// NewRedis connects to Redis (redis://host:port/db, rediss://... for TLS,
// redis+cluster://host:port?addr=host2:port2 for Redis Cluster; go-redis URL
// options such as dial_timeout apply) and starts the replica's background
// work: the signal reader, the reclaimer of stale signals and the timer
// pump. It fails if Redis does not answer.
func NewRedis(ctx context.Context, url string, opts Options) (Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	rdb, err := newClient(url, opts.Password)
	if err != nil {
		return nil, err
	}
	reader, _ := newClient(url, opts.Password)
	s := &redisStore{
		opts:     opts,
		rdb:      rdb,
		reader:   reader,
		keys:     newKeyspace(opts.Namespace),
		seal:     newSealer(opts.Namespace, opts.ItemKey),
		consumer: opts.Owner + "-" + newNonce()[:8],
		ttlMS:    opts.LeaseTTL.Milliseconds(),
		grants:   make(chan *Lease),
		wake:     make(chan struct{}, 1),
	}
	if s.ttlMS < 1 {
		s.ttlMS = 1
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		_ = reader.Close()
		return nil, fmt.Errorf("store: redis %s: %w", redactURL(url), err)
	}
	s.lua = newScripts(serverMajor(ctx, rdb) >= 7)
	if err := s.ensureGroup(ctx); err != nil {
		_ = rdb.Close()
		_ = reader.Close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.batch = newBatcher(s.ctx, rdb)
	s.wg.Add(3)
	go s.read()
	go s.reclaim()
	go s.pumpTimers()
	return s, nil
}

// newClient builds a client from a URL, with password (when not empty) in
// place of the URL's. Unless the URL says otherwise, callers' context
// deadlines apply and no call hangs for long when Redis is unreachable.
func newClient(url, password string) (redis.UniversalClient, error) {
	u, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	noMaint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if u.Cluster {
		if password != "" {
			u.cluster.Password = password
		}
		return newCluster(u.cluster, noMaint), nil
	}
	if u.single == nil {
		return nil, fmt.Errorf("store: %s is not a Redis URL", redactURL(url))
	}
	o := u.single
	if password != "" {
		o.Password = password
	}
	o.ContextTimeoutEnabled = true
	o.MaintNotificationsConfig = noMaint
	setDefaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolSize, &o.Protocol)
	return redis.NewClient(o), nil
}

func newCluster(o *redis.ClusterOptions, noMaint *maintnotifications.Config) redis.UniversalClient {
	o.ContextTimeoutEnabled = true
	o.MaintNotificationsConfig = noMaint
	setDefaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolSize, &o.Protocol)
	return redis.NewClusterClient(o)
}

// setDefaults fills in what the URL left unset, the same for a single
// Redis and a Cluster (their option structs share these fields but no
// type): timeouts short enough that no call hangs for long when Redis is
// unreachable, and the pool and protocol below.
func setDefaults(dial, read, write *time.Duration, pool, proto *int) {
	*dial = orDefault(*dial, 2*time.Second)
	*read = orDefault(*read, 3*time.Second)
	*write = orDefault(*write, 3*time.Second)
	*pool = poolSize(*pool)
	*proto = protocol(*proto)
}

// poolSize is the connection pool unless the URL sets pool_size. go-redis
// defaults to 10 per CPU, but an executor has a request handler per webhook
// in flight and a worker per leased contact, each holding a connection for
// a round trip: on 2 CPUs the default pool queues them and every store call
// waits for a connection rather than for Redis.
func poolSize(fromURL int) int {
	if fromURL > 0 {
		return fromURL
	}
	return 64
}

// protocol is RESP2 unless the URL sets protocol=3. The store uses no RESP3
// feature, and under RESP3 go-redis peeks the connection for push
// notifications before every command, which cost an eighth of the
// executor's CPU under load.
func protocol(fromURL int) int {
	if fromURL > 0 {
		return fromURL
	}
	return 2
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// redactURL drops credentials from a URL for error messages.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.LastIndex(u[i+3:], "@"); j >= 0 {
			return u[:i+3] + "***@" + u[i+3+j+1:]
		}
	}
	return u
}

func (s *redisStore) closed() bool { return s.ctx.Err() != nil }

// ensureGroup creates the signal stream and its consumer group from the
// first entry, so signals written before the group existed are not skipped.
func (s *redisStore) ensureGroup(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.keys.signals, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("store: create consumer group: %w", err)
	}
	return nil
}

func (s *redisStore) Ping(ctx context.Context) error {
	if s.closed() {
		return ErrClosed
	}
	return s.rdb.Ping(ctx).Err()
}

func (s *redisStore) Stats(ctx context.Context) (Stats, error) {
	if s.closed() {
		return Stats{}, ErrClosed
	}
	xlen := s.rdb.XLen(ctx, s.keys.signals)
	pend := s.rdb.XPending(ctx, s.keys.signals, group)
	timers := s.rdb.ZCard(ctx, s.keys.timerIndex)
	dead := s.rdb.ZCard(ctx, s.keys.deadIndex)
	for _, err := range []error{xlen.Err(), pend.Err(), timers.Err(), dead.Err()} {
		if err != nil {
			return Stats{}, fmt.Errorf("store: stats: %w", err)
		}
	}
	items, err := s.inboxItems(ctx, xlen.Val())
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return Stats{Signals: xlen.Val(), InFlight: pend.Val().Count, Timers: timers.Val(), InboxItems: items,
		DeadLetters: dead.Val()}, nil
}

// maxStatsContacts bounds the contacts Stats reads the inbox length of.
const maxStatsContacts = 10000

// inboxItems counts the items waiting in inboxes. The signal stream holds
// only open work: every contact with queued items has a signal there, new
// or delivered to a worker and not yet acknowledged. So the count is the
// sum of the inbox lengths of the contacts the stream names, read in one
// pipeline. Beyond maxStatsContacts signals the sum over the first ones is
// scaled to the stream's length: an estimate, as cheap at a backlog of a
// million as at ten thousand.
func (s *redisStore) inboxItems(ctx context.Context, signals int64) (int64, error) {
	if signals == 0 {
		return 0, nil
	}
	entries, err := s.rdb.XRangeN(ctx, s.keys.signals, "-", "+", maxStatsContacts).Result()
	if err != nil {
		return 0, err
	}
	seen := make(map[string]bool, len(entries))
	pipe := s.rdb.Pipeline()
	lens := make([]*redis.IntCmd, 0, len(entries))
	for _, e := range entries {
		c, _ := e.Values["c"].(string)
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		lens = append(lens, pipe.LLen(ctx, s.keys.contact(c).inbox))
	}
	if len(lens) == 0 {
		return 0, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	var n int64
	for _, l := range lens {
		n += l.Val()
	}
	// Only a capped read is extrapolated: the stream's length was read
	// before the range and may have changed since.
	if read := int64(len(entries)); read == maxStatsContacts && signals > read {
		n = n * signals / read
	}
	return n, nil
}

func (s *redisStore) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		// Interrupts the blocking read, so Close does not wait for it.
		_ = s.reader.Close()
		s.wg.Wait()
		s.batch.wg.Wait() // a batch on the wire completes
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		// Hand the signals read ahead back to the group and leave it, so
		// another replica serves them now rather than a lease TTL later.
		_ = s.lua.leave.Run(ctx, s.rdb, []string{s.keys.signals}, group, s.consumer).Err()
		err = s.rdb.Close()
	})
	return err
}
