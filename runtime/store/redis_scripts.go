package store

import (
	"context"
	"embed"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one file each under lua/, with the functions several of
// them share in lua/lib.lua. Each script touches the keys of one contact, or
// one global key, never both (the Redis Cluster rule), and only keys passed
// in KEYS — except the "1" scripts (enqueue1, lease1, commit1, release1), which a
// single Redis runs instead of a Cluster's two or three calls.
//
//go:embed lua/*.lua
var luaFiles embed.FS

// luaPrelude is shared by all scripts. TIME is allowed before writes
// because Redis ≥ 5 replicates a script's effects, not the script.
const luaPrelude = `local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// strictShebang marks scripts for Redis ≥ 7, which then refuses, in
// cluster mode, any key access outside the slot of the declared keys:
// Redis itself checks the layout. Older servers do not know the syntax.
const strictShebang = "#!lua\n"

type scripts struct {
	enqueue, lease, load, commit, renew, release *redis.Script
	fire, index, settle, ack, ackBusy, leave, gc *redis.Script
	take                                         *redis.Script
	// Enqueue, Acquire, Commit and Release on a single Redis, where
	// crossing slots is allowed: the only scripts that do.
	enqueue1, lease1, commit1, release1 *redis.Script
}

func newScripts(strict bool) *scripts {
	prefix := luaPrelude + luaSource("lib")
	if strict {
		prefix = strictShebang + prefix
	}
	load := func(name string) *redis.Script { return redis.NewScript(prefix + luaSource(name)) }
	crossSlot := crossSlotPrefix(strict) + luaSource("lib")
	load1 := func(name string) *redis.Script { return redis.NewScript(crossSlot + luaSource(name)) }
	return &scripts{
		enqueue: load("enqueue"), lease: load("lease"), load: load("load"),
		commit: load("commit"), renew: load("renew"), release: load("release"),
		fire: load("fire"), index: load("index"), settle: load("settle"),
		ack: load("ack"), ackBusy: load("ackbusy"), leave: load("leave"), gc: load("gc"),
		take:     load("take"),
		enqueue1: load1("enqueue1"), lease1: load1("lease1"), commit1: load1("commit1"), release1: load1("release1"),
	}
}

// luaSource is an embedded script file.
func luaSource(name string) string {
	src, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(src)
}

// crossSlotPrefix is the prelude of the scripts that run only against a
// single Redis, where touching keys of several slots is allowed; Redis ≥ 7
// needs the shebang flag to allow it.
func crossSlotPrefix(strict bool) string {
	if strict {
		return "#!lua flags=allow-cross-slot-keys\n" + luaPrelude
	}
	return luaPrelude
}

// serverMajor returns the major version Redis reports (Valkey reports its
// Redis compatibility version), or 0 when it cannot tell.
func serverMajor(ctx context.Context, rdb redis.UniversalClient) int {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			major, _, _ := strings.Cut(v, ".")
			n, _ := strconv.Atoi(major)
			return n
		}
	}
	return 0
}
