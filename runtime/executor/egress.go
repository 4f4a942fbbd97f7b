package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// maxHTTPResponse caps the body an HTTPRequest node reads, so one slow or
// huge API cannot exhaust the executor's memory.
const maxHTTPResponse = 1 << 20

// blockedNetworks are the destinations an HTTPRequest node may not reach
// unless the operator allows them: private ranges, loopback, link-local
// (which holds the cloud metadata endpoints), CGNAT, and the unspecified,
// multicast and reserved ranges.
var blockedNetworks = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96",
)

func mustPrefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
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

// addressAllowed reports whether an HTTPRequest may connect to ip.
func addressAllowed(ip netip.Addr, allowed []netip.Prefix) bool {
	ip = ip.Unmap()
	for _, p := range allowed {
		if p.Contains(ip) {
			return true
		}
	}
	for _, p := range blockedNetworks {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// newEgressClient returns the HTTP client of HTTPRequest nodes. The address
// check runs in the dialer's Control hook, after DNS resolution and for every
// connection, so a name that resolves to a public address at check time and
// a private one at connect time (DNS rebinding) is still refused.
func newEgressClient(allowed []netip.Prefix) *http.Client {
	dialer := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
			}
			if !addressAllowed(ap.Addr(), allowed) {
				return fmt.Errorf("%w: %s is a private, loopback, link-local or metadata address", ErrRefusedAddress, ap.Addr())
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf and bypass the address check
		DialContext:           dialer.DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: transport,
		// Redirects are followed (each hop is dialed through the same check)
		// but bounded.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			return nil
		},
	}
}

// secretReader reads a key of a mounted Secret.
type secretReader func(name, key string) (string, error)

// doHTTPCall performs an HTTPRequest node's call and returns its result;
// failures (timeout, refused address, oversize body) are reported in the
// result's Err, never as a Go error, because the flow routes them to onError.
func doHTTPCall(ctx context.Context, c *http.Client, call flow.HTTPCall, secrets secretReader) flow.HTTPResult {
	res := flow.HTTPResult{EffectID: call.ID}
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
		res.Err = "invalid request: " + err.Error()
		return res
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		res.Err = "invalid request: the URL must be http or https"
		return res
	}
	req.Header.Set("User-Agent", "chatflow-executor")
	for _, h := range call.Headers {
		v := h.Value
		if h.SecretRef.Name != "" {
			if v, err = secrets(h.SecretRef.Name, h.SecretRef.Key); err != nil {
				res.Err = err.Error()
				return res
			}
		}
		req.Header.Set(h.Name, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, ErrRefusedAddress):
			res.Err = "refused address: " + req.URL.Host + " resolves to a private, loopback, link-local or metadata address"
		case errors.Is(err, context.DeadlineExceeded):
			res.Err = "timeout after " + timeout.String()
		default:
			res.Err = "request failed: " + err.Error()
		}
		return res
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPResponse+1))
	if err != nil {
		res.Err = "reading the response: " + err.Error()
		return res
	}
	if len(data) > maxHTTPResponse {
		res.Err = fmt.Sprintf("response larger than %d bytes", maxHTTPResponse)
		return res
	}
	res.Status = resp.StatusCode
	res.Body = data
	res.ContentType = resp.Header.Get("Content-Type")
	res.Headers = make(map[string]string, len(resp.Header))
	for k, v := range resp.Header {
		res.Headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return res
}
