package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// redisPasswordEnv is where the chart's Redis pod hands the password to
// redis-auth-config.
const redisPasswordEnv = "REDIS_PASSWORD"

// newRedisAuthConfigCommand writes the password of the chart's Redis into a
// redis.conf fragment (`requirepass ...`) that redis-server reads as its
// configuration file, so that the password is never one of redis-server's
// arguments, which every process of the node can read. The chart runs it
// as an init container (the chatflow image has no shell).
func newRedisAuthConfigCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "redis-auth-config FILE",
		Short:  "Write requirepass from $" + redisPasswordEnv + " into a redis.conf fragment (for the Helm chart's Redis)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			password := os.Getenv(redisPasswordEnv)
			if password == "" {
				return errors.New("$" + redisPasswordEnv + " is empty: the Redis of the chart always requires a password")
			}
			return os.WriteFile(args[0], []byte(redisAuthConfig(password)), 0o600)
		},
	}
}

// redisAuthConfig is the redis.conf line that requires password. Every
// byte but letters and digits is written as a \xHH escape inside double
// quotes, which Redis's configuration parser decodes, so any password
// survives whatever quotes, spaces or backslashes it holds.
func redisAuthConfig(password string) string {
	var b strings.Builder
	b.WriteString(`requirepass "`)
	for i := 0; i < len(password); i++ {
		c := password[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	b.WriteString("\"\n")
	return b.String()
}
