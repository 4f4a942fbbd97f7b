package store

import (
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Memory is the URL of the in-process store.
const Memory = "memory"

// URL is a session store URL, parsed: the one rule of which URLs Open
// accepts, for Open itself and for whoever hands a URL to the executors
// (the manager checks --executor-store with it before starting any).
type URL struct {
	// Memory is the in-process store: one replica, nothing kept across
	// restarts.
	Memory bool
	// Cluster is Redis Cluster (redis+cluster:// or rediss+cluster://).
	Cluster bool

	single  *redis.Options
	cluster *redis.ClusterOptions
}

const want = "use memory, redis://HOST:PORT/DB, rediss://HOST:PORT/DB (TLS) or redis+cluster://HOST:PORT (Redis Cluster; rediss+cluster:// with TLS)"

// ParseURL parses a session store URL without connecting: "memory",
// redis://[user:password@]host:port/db or rediss://... (TLS), and
// redis+cluster://host:port?addr=host2:port2 or rediss+cluster://... for
// Redis Cluster; go-redis URL options (dial_timeout, pool_size, ...)
// apply. Errors never show the password.
func ParseURL(spec string) (URL, error) {
	if spec == Memory {
		return URL{Memory: true}, nil
	}
	scheme, rest, ok := strings.Cut(spec, "://")
	if !ok {
		return URL{}, fmt.Errorf("store: unknown store %q: %s", redactURL(spec), want)
	}
	switch scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(spec)
		if err != nil {
			return URL{}, fmt.Errorf("store: %s: %s", redactURL(spec), redactURL(err.Error()))
		}
		return URL{single: o}, nil
	case "redis+cluster", "rediss+cluster":
		o, err := redis.ParseClusterURL(strings.TrimSuffix(scheme, "+cluster") + "://" + rest)
		if err != nil {
			return URL{}, fmt.Errorf("store: %s: %s", redactURL(spec), redactURL(err.Error()))
		}
		return URL{Cluster: true, cluster: o}, nil
	}
	return URL{}, fmt.Errorf("store: unknown scheme %q in %s: %s", scheme, redactURL(spec), want)
}
