package store

import (
	"context"
	"embed"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one file each under lua/, with the functions several of
// them share in lua/lib.lua. Each touches only keys of one flow (one hash
// tag, one Redis Cluster slot), passed in KEYS; the rate bucket script
// touches its bucket alone.
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
	enqueue, lease, load, commit, renew, release, fire *redis.Script
	ack, leave, gc, take                               *redis.Script
	deadLetters, retry, erase                          *redis.Script
	campaign                                           *redis.Script
}

func newScripts(strict bool) *scripts {
	prefix := luaPrelude + luaSource("lib")
	if strict {
		prefix = strictShebang + prefix
	}
	load := func(name string) *redis.Script { return redis.NewScript(prefix + luaSource(name)) }
	return &scripts{
		enqueue: load("enqueue"), lease: load("lease"), load: load("load"),
		commit: load("commit"), renew: load("renew"), release: load("release"), fire: load("fire"),
		ack: load("ack"), leave: load("leave"), gc: load("gc"), take: load("take"),
		deadLetters: load("deadletters"), retry: load("retry"), erase: load("erase"),
		campaign: load("campaign"),
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
