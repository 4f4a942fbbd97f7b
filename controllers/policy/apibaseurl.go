package policy

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// APIBaseURLProblem says why a binding may not send to apiBaseURL, or ""
// when it may. The executor sends the account's access token there, so the
// URL must be https; plain http is allowed only to a loopback host
// (localhost, 127.0.0.0/8, ::1), where the channel sandbox runs in
// development and tests. When the operator lists allowed hosts, the URL's
// host must be one of them: an exact name, or "*.example.com" for any name
// under example.com. An empty apiBaseURL (the channel's own API) is fine.
func APIBaseURLProblem(apiBaseURL string, allowedHosts []string) string {
	if apiBaseURL == "" {
		return ""
	}
	u, err := url.Parse(apiBaseURL)
	if err != nil || u.Host == "" {
		return "must be an absolute URL such as https://graph.example.com/v21.0"
	}
	host := u.Hostname()
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && IsLoopbackHost(host):
	case u.Scheme == "http":
		return fmt.Sprintf("must be https: the executor sends the account's access token to it (plain http is allowed only to localhost, 127.0.0.0/8 and ::1, for development); use https://%s%s",
			u.Host, u.EscapedPath())
	default:
		return "must be an https URL"
	}
	if len(allowedHosts) > 0 && !HostAllowed(host, allowedHosts) {
		return fmt.Sprintf("host %s is not one the operator allows for apiBaseURL (%s): use one of them, or ask your cluster admin to add it (the manager's --api-base-url-hosts, the chart's bindings.apiBaseURLHosts)",
			host, strings.Join(allowedHosts, ", "))
	}
	return ""
}

// IsLoopbackHost says whether a URL host (no port, no brackets) is
// localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// HostAllowed says whether host matches one of patterns: an exact name
// (case-insensitive), or "*.example.com" for the names under example.com
// (not example.com itself).
func HostAllowed(host string, patterns []string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return slices.ContainsFunc(patterns, func(p string) bool {
		p = strings.ToLower(strings.TrimSuffix(p, "."))
		if suffix, ok := strings.CutPrefix(p, "*"); ok && strings.HasPrefix(suffix, ".") {
			return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
		}
		return host == p
	})
}
