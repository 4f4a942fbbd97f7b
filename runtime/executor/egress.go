package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// maxHTTPResponse caps the body an HTTPRequest node reads, and
// maxHTTPResponseHeaders its headers, so one slow or huge API cannot
// exhaust the executor's memory.
const (
	maxHTTPResponse        = 1 << 20
	maxHTTPResponseHeaders = 64 << 10
)

// IdempotencyKeyHeader carries a key derived from the HTTPRequest's effect
// id: the same on every replay of the same turn (after a crash, or a
// takeover by another replica), different for every other call, so an API
// that honours it performs a replayed call once.
const IdempotencyKeyHeader = "Idempotency-Key"

// blockedNetworks are the destinations an HTTPRequest node may not reach
// unless the operator allows them: private ranges, loopback, link-local
// (which holds most cloud metadata endpoints), CGNAT, and the unspecified,
// multicast, reserved, discard and documentation ranges. The IPv6
// transition ranges (6to4, Teredo, NAT64) are not here: they are judged by
// the IPv4 address they embed (embeddedIPv4).
var blockedNetworks = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
	"::/96", "::1/128", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)

// metadataAddresses are the cloud instance metadata and agent endpoints.
// They are refused even when the operator allows the range they are in:
// they hand out the node's (or pod's) cloud credentials.
var metadataAddresses = mustAddrs(
	"169.254.169.254", // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle... IMDS
	"169.254.170.2",   // AWS ECS task credentials
	"169.254.170.23",  // AWS EKS Pod Identity
	"169.254.0.23",    // Tencent Cloud
	"100.100.100.200", // Alibaba Cloud
	"168.63.129.16",   // Azure WireServer
	"192.0.0.192",     // Oracle Cloud Classic
	"fd00:ec2::254",   // AWS IMDS over IPv6
	"fd00:ec2::23",    // AWS EKS Pod Identity over IPv6
)

// Prefixes that carry an IPv4 address inside an IPv6 one.
var (
	sixToFour    = netip.MustParsePrefix("2002::/16")      // 6to4: bits 16-47
	teredo       = netip.MustParsePrefix("2001::/32")      // Teredo: server bits 32-63, client bits 96-127 inverted
	nat64        = netip.MustParsePrefix("64:ff9b::/96")   // well-known NAT64: bits 96-127
	nat64Local   = netip.MustParsePrefix("64:ff9b:1::/48") // local-use NAT64, any RFC 6052 prefix length
	ipv4Compat   = netip.MustParsePrefix("::/96")          // IPv4-compatible (deprecated): bits 96-127
	ipv6Loopback = netip.MustParseAddr("::1")
)

func mustPrefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

func mustAddrs(ips ...string) map[netip.Addr]bool {
	out := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		out[netip.MustParseAddr(ip)] = true
	}
	return out
}

// ParseNetworks parses a list of CIDRs (the --allow-private-networks flag).
func ParseNetworks(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("--allow-private-networks: %q is not a CIDR such as 10.0.0.0/8: %w", c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ErrRefusedAddress is returned when an HTTPRequest resolves to a blocked address.
var ErrRefusedAddress = errors.New("refused address")

// refusal is the egress guard's decision: why an HTTPRequest may not
// connect to ip, or "" when it may. In order:
//   - an IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address;
//   - a cloud metadata address is refused, whatever the operator allows;
//   - an address that embeds an IPv4 address (6to4, Teredo, NAT64,
//     IPv4-compatible) is refused when that IPv4 address would be;
//   - an address in a range the operator allows is allowed;
//   - an address in blockedNetworks is refused.
func refusal(ip netip.Addr, allowed []netip.Prefix) string {
	ip = ip.Unmap()
	if metadataAddresses[ip] {
		return ip.String() + " is a cloud metadata address"
	}
	for _, v4 := range embeddedIPv4(ip) {
		if why := refusal(v4, allowed); why != "" {
			return fmt.Sprintf("%s embeds %s: %s", ip, v4, why)
		}
	}
	for _, p := range allowed {
		if p.Contains(ip) {
			return ""
		}
	}
	for _, p := range blockedNetworks {
		if p.Contains(ip) {
			return ip.String() + " is a private, loopback, link-local or reserved address"
		}
	}
	return ""
}

// embeddedIPv4 returns the IPv4 addresses an IPv6 transition address
// carries: the one a packet to it ends up at, or might.
func embeddedIPv4(ip netip.Addr) []netip.Addr {
	if !ip.Is6() || ip.Is4In6() {
		return nil
	}
	b := ip.As16()
	v4 := func(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }
	switch {
	case sixToFour.Contains(ip):
		return []netip.Addr{v4(b[2], b[3], b[4], b[5])}
	case teredo.Contains(ip):
		return []netip.Addr{v4(b[4], b[5], b[6], b[7]), v4(^b[12], ^b[13], ^b[14], ^b[15])}
	case nat64.Contains(ip):
		return []netip.Addr{v4(b[12], b[13], b[14], b[15])}
	case nat64Local.Contains(ip):
		// The network picks the prefix length (RFC 6052: 48, 56, 64 or 96
		// inside this /48; bits 64-71 are always skipped): every reading
		// must pass, but the zero padding of the other lengths (a reading
		// in 0.0.0.0/8, "this network", never a destination) is no reading.
		var out []netip.Addr
		for _, a := range []netip.Addr{
			v4(b[6], b[7], b[9], b[10]),
			v4(b[7], b[9], b[10], b[11]),
			v4(b[9], b[10], b[11], b[12]),
			v4(b[12], b[13], b[14], b[15]),
		} {
			if a.As4()[0] != 0 {
				out = append(out, a)
			}
		}
		return out
	case ipv4Compat.Contains(ip) && ip != ipv6Loopback && !ip.IsUnspecified():
		return []netip.Addr{v4(b[12], b[13], b[14], b[15])}
	}
	return nil
}

// egressDialer connects HTTPRequest nodes: it resolves the host itself, for
// every connection, and dials only addresses the guard (refusal) allows,
// so a name that resolves to a public address once and to a private one
// the next time (DNS rebinding) is refused the second time. The dialer's
// Control hook checks the address once more, just before connect.
type egressDialer struct {
	allowed []netip.Prefix
	// lookup resolves a host name (net.DefaultResolver.LookupNetIP).
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// dial connects to an address the guard allowed.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

func newEgressDialer(allowed []netip.Prefix) *egressDialer {
	d := &egressDialer{allowed: allowed, lookup: net.DefaultResolver.LookupNetIP}
	nd := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
			}
			if why := refusal(ap.Addr(), allowed); why != "" {
				return fmt.Errorf("%w: %s", ErrRefusedAddress, why)
			}
			return nil
		},
	}
	d.dial = nd.DialContext
	return d
}

// DialContext resolves address's host and dials the first of its
// addresses the guard allows, trying the next on failure.
func (d *egressDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = d.lookup(ctx, "ip", host); err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		if why := refusal(ip, d.allowed); why != "" {
			errs = append(errs, fmt.Errorf("%w: %s", ErrRefusedAddress, why))
			continue
		}
		conn, err := d.dial(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	return nil, errors.Join(errs...)
}

// alwaysSecretHeaders are dropped on a redirect to another host whether
// or not they came from a Secret.
var alwaysSecretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Cookie2"}

// secretHeadersKey carries, in a request's context, the names of the
// headers whose value came from a Secret.
type secretHeadersKey struct{}

// newEgressClient returns the HTTP client of HTTPRequest nodes and
// hand-off notifications: every connection goes through egressDialer;
// redirects are followed (each hop dialed through the same guard) but
// bounded, and a redirect to another host, or from https to http, drops
// the headers that carry secrets.
func newEgressClient(allowed []netip.Prefix) *http.Client {
	return newEgressClientWith(newEgressDialer(allowed))
}

func newEgressClientWith(d *egressDialer) *http.Client {
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would dial on our behalf and bypass the address check
		DialContext:            d.DialContext,
		MaxResponseHeaderBytes: maxHTTPResponseHeaders,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    10,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
	}
	return &http.Client{Transport: transport, CheckRedirect: checkRedirect}
}

// checkRedirect bounds redirects and strips secret headers from a hop that
// leaves the first request's host or its https.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	first := via[0]
	if leavesOrigin(first.URL, req.URL) {
		secret, _ := req.Context().Value(secretHeadersKey{}).([]string)
		for _, h := range append(slices.Clone(alwaysSecretHeaders), secret...) {
			req.Header.Del(h)
		}
	}
	return nil
}

// leavesOrigin says whether a redirect from a to b changes the host (name
// or port) or drops TLS.
func leavesOrigin(a, b *url.URL) bool {
	return !strings.EqualFold(a.Host, b.Host) || (a.Scheme == "https" && b.Scheme != "https")
}

// secretReader reads a key of a mounted Secret.
type secretReader func(name, key string) (string, error)

// doHTTPCall performs an HTTPRequest node's call with the given
// Idempotency-Key and returns its result; failures (timeout, refused
// address, oversize response) are reported in the result's Err, never as a
// Go error, because the flow routes them to onError. budget names the
// limit that bit, if one did. Errors name the URL without its query, which
// may hold tokens. With tracing, the request carries the W3C traceparent
// of ctx's span.
func doHTTPCall(ctx context.Context, c *http.Client, call flow.HTTPCall, secrets secretReader, idempotencyKey string, t *tracing) (res flow.HTTPResult, budget string) {
	res = flow.HTTPResult{EffectID: call.ID}
	timeout := call.Timeout
	if timeout <= 0 || timeout > 30*time.Second {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if call.Body != "" {
		body = strings.NewReader(call.Body)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, call.URL, body)
	if err != nil {
		res.Err = "invalid request: " + redactURL(err.Error())
		return res, ""
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		res.Err = "invalid request: the URL must be http or https"
		return res, ""
	}
	req.Header.Set("User-Agent", "chatflow-executor")
	if idempotencyKey != "" {
		req.Header.Set(IdempotencyKeyHeader, idempotencyKey)
	}
	t.propagate(ctx, req.Header)
	var secretHeaders []string
	for _, h := range call.Headers {
		v := h.Value
		if h.SecretRef.Name != "" {
			if v, err = secrets(h.SecretRef.Name, h.SecretRef.Key); err != nil {
				res.Err = err.Error()
				return res, ""
			}
			secretHeaders = append(secretHeaders, h.Name)
		}
		req.Header.Set(h.Name, v)
	}
	if len(secretHeaders) > 0 {
		req = req.WithContext(context.WithValue(req.Context(), secretHeadersKey{}, secretHeaders))
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = withoutQuery(ue.URL)
		}
		switch {
		case errors.Is(err, ErrRefusedAddress):
			res.Err = "refused address: " + req.URL.Host + " resolves to a private, loopback, link-local or metadata address"
		case errors.Is(err, context.DeadlineExceeded):
			res.Err = "timeout after " + timeout.String()
			res.Reason = flow.ReasonTimeout
		case strings.Contains(err.Error(), "response headers exceeded"):
			res.Err = fmt.Sprintf("the response headers are larger than %d bytes", maxHTTPResponseHeaders)
			return res, budgetHTTPHeaders
		default:
			res.Err = "request failed: " + err.Error()
		}
		return res, ""
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPResponse+1))
	if err != nil {
		res.Err = "reading the response: " + err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			res.Reason = flow.ReasonTimeout
		}
		return res, ""
	}
	if len(data) > maxHTTPResponse {
		res.Err = fmt.Sprintf("response larger than %d bytes", maxHTTPResponse)
		return res, budgetHTTPBody
	}
	res.Status = resp.StatusCode
	res.Body = data
	res.ContentType = resp.Header.Get("Content-Type")
	res.Headers = make(map[string]string, len(resp.Header))
	for k, v := range resp.Header {
		res.Headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return res, ""
}

// withoutQuery drops the query and fragment of a URL for messages and
// logs: they may carry tokens.
func withoutQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}
