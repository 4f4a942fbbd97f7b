package store

import (
	"strings"
	"testing"
)

func TestParseURLEveryScheme(t *testing.T) {
	for _, tc := range []struct {
		url     string
		memory  bool
		cluster bool
		err     string
	}{
		{url: "memory", memory: true},
		{url: "redis://127.0.0.1:6379/0"},
		{url: "redis://:s3cret@redis:6379/2?dial_timeout=3s&pool_size=8"},
		{url: "rediss://redis.internal:6380/0"},
		{url: "redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000", cluster: true},
		{url: "rediss+cluster://user:s3cret@redis:7000", cluster: true},
		{url: "", err: "unknown store"},
		{url: "Memory", err: "unknown store"},
		{url: "mysql://db", err: `unknown scheme "mysql"`},
		{url: "http://user:s3cret@redis:6379", err: `unknown scheme "http"`},
		{url: "redis://:s3cret@redis:6379/x", err: "invalid database number"},
		{url: "redis+cluster://:s3cret@redis:7000?dial_timeout=soon", err: "dial_timeout"},
	} {
		u, err := ParseURL(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%q: got %v, want an error with %q and no password", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.url, err)
			continue
		}
		if u.Memory != tc.memory || u.Cluster != tc.cluster {
			t.Errorf("%q: memory %v cluster %v, want %v %v", tc.url, u.Memory, u.Cluster, tc.memory, tc.cluster)
		}
		if !u.Memory && (u.single == nil) == (u.cluster == nil) {
			t.Errorf("%q: parsed as both or neither a single Redis and a Cluster", tc.url)
		}
	}
}
