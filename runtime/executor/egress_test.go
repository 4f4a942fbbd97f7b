package executor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// The guard's decisions. These tests send nothing anywhere: only the
// decision function runs (the dialing tests below dial loopback only).
func TestRefusal(t *testing.T) {
	none := []netip.Prefix(nil)
	private := mustPrefixes("10.0.0.0/8", "169.254.0.0/16", "fd00::/8", "100.64.0.0/10", "127.0.0.0/8")
	tests := []struct {
		ip      string
		allowed []netip.Prefix
		refused string // a fragment of the reason; "" when allowed
	}{
		// Public addresses.
		{"93.184.215.14", none, ""},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", none, ""},
		// Private, loopback, link-local, reserved.
		{"10.1.2.3", none, "private, loopback"},
		{"127.0.0.1", none, "private, loopback"},
		{"172.16.0.1", none, "private"},
		{"192.168.1.1", none, "private"},
		{"100.64.0.1", none, "private"},
		{"0.0.0.0", none, "private"},
		{"255.255.255.255", none, "reserved"},
		{"::1", none, "loopback"},
		{"::", none, "reserved"},
		{"fe80::1", none, "link-local"},
		{"fc00::1", none, "private"},
		{"ff02::1", none, "reserved"},
		{"2001:db8::1", none, "reserved"},
		// The operator's allowed ranges open private ones...
		{"10.1.2.3", private, ""},
		{"127.0.0.1", private, ""},
		{"169.254.1.1", private, ""},
		// ...but never a metadata address.
		{"169.254.169.254", none, "cloud metadata"},
		{"169.254.169.254", private, "cloud metadata"},
		{"169.254.170.2", private, "cloud metadata"},
		{"169.254.0.23", private, "cloud metadata"},
		{"100.100.100.200", private, "cloud metadata"},
		{"168.63.129.16", none, "cloud metadata"},
		{"fd00:ec2::254", private, "cloud metadata"},
		{"fd00:ec2::23", private, "cloud metadata"},
		{"::ffff:169.254.169.254", private, "cloud metadata"},
		// IPv4-mapped and IPv4-compatible forms are the IPv4 address.
		{"::ffff:127.0.0.1", none, "loopback"},
		{"::ffff:10.0.0.1", private, ""},
		{"::ffff:93.184.215.14", none, ""},
		{"::127.0.0.1", none, "embeds 127.0.0.1"},
		{"::a9fe:a9fe", private, "embeds 169.254.169.254: 169.254.169.254 is a cloud metadata address"},
		// 6to4 carries bits 16-47.
		{"2002:7f00:1::", none, "embeds 127.0.0.1"},
		{"2002:a9fe:a9fe::1", private, "cloud metadata"},
		{"2002:0a00:0001::", none, "embeds 10.0.0.1"},
		{"2002:5db8:d70e::", none, ""},
		// Teredo: the server (bits 32-63) and the client (bits 96-127, inverted).
		{"2001:0:7f00:1::", none, "embeds 127.0.0.1"},
		{"2001:0:5db8:d70e:0:0:f5ff:fffe", none, "embeds 10.0.0.1"},
		{"2001:0:5db8:d70e:0:0:a247:28f1", none, ""},
		// NAT64, well-known prefix.
		{"64:ff9b::7f00:1", none, "embeds 127.0.0.1"},
		{"64:ff9b::a9fe:a9fe", private, "cloud metadata"},
		{"64:ff9b::5db8:d70e", none, ""},
		// Local-use NAT64: every RFC 6052 reading must pass.
		{"64:ff9b:1::7f00:1", none, "embeds 127.0.0.1"},       // /96
		{"64:ff9b:1:0:7f:0:100:0", none, "embeds 127.0.0.1"},  // /64
		{"64:ff9b:1:a00:0:100::", none, "embeds 10.0.0.1"},    // /48
		{"64:ff9b:1:a9:fe:a9fe::", private, "cloud metadata"}, // /56 of 169.254.169.254
		{"64:ff9b:1:5db8:d7:e00::", none, ""},                 // /48 of a public address
		{"64:ff9b:1:0:5d:b8d7:e00:0", none, ""},               // /64 of a public address
		{"64:ff9b:1::5db8:d70e", none, ""},                    // /96 of a public address
	}
	for _, tt := range tests {
		got := refusal(netip.MustParseAddr(tt.ip), tt.allowed)
		switch {
		case tt.refused == "" && got != "":
			t.Errorf("%s (allowed %v): refused: %s", tt.ip, tt.allowed, got)
		case tt.refused != "" && !strings.Contains(got, tt.refused):
			t.Errorf("%s (allowed %v): %q, want a refusal with %q", tt.ip, tt.allowed, got, tt.refused)
		}
	}
}

// recordingDialer is the guard with a scripted resolver, whose dials are
// recorded: only loopback addresses may ever be dialed.
type recordingDialer struct {
	mu      sync.Mutex
	answers [][]netip.Addr // one per lookup, in order
	lookups int
	dialed  []string
}

func (r *recordingDialer) guard(t *testing.T, allowed []netip.Prefix) *egressDialer {
	d := newEgressDialer(allowed)
	d.lookup = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if host != "rebind.test" || r.lookups >= len(r.answers) {
			t.Errorf("unexpected lookup of %s", host)
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		r.lookups++
		return r.answers[r.lookups-1], nil
	}
	dial := d.dial
	d.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		r.mu.Lock()
		r.dialed = append(r.dialed, address)
		r.mu.Unlock()
		if ap, err := netip.ParseAddrPort(address); err != nil || !ap.Addr().IsLoopback() {
			t.Errorf("the test would dial %s: only loopback may be dialed", address)
			return nil, errors.New("not dialed")
		}
		return dial(ctx, network, address)
	}
	return d
}

func get(t *testing.T, c *http.Client, rawURL string, headers ...flow.Header) flow.HTTPResult {
	t.Helper()
	res, _ := doHTTPCall(context.Background(), c, flow.HTTPCall{ID: "e1", Method: "GET", URL: rawURL, Timeout: 5 * time.Second, Headers: headers},
		func(name, key string) (string, error) { return "secret-of-" + name, nil }, "", nil)
	return res
}

// TestDialTimeDNSRebinding: the name resolves to loopback (allowed here),
// then to a private address: the second connection is refused before it
// is dialed.
func TestDialTimeDNSRebinding(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	r := &recordingDialer{answers: [][]netip.Addr{
		{netip.MustParseAddr("127.0.0.1")},
		{netip.MustParseAddr("10.0.0.1")},
		{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("127.0.0.1")},
	}}
	c := newEgressClientWith(r.guard(t, mustPrefixes("127.0.0.0/8")))
	c.Transport.(*http.Transport).DisableKeepAlives = true // every call resolves again
	u := "http://rebind.test:" + itoa(port) + "/"

	if res := get(t, c, u); res.Err != "" || res.Status != 200 {
		t.Fatalf("first call: %+v", res)
	}
	res := get(t, c, u)
	if !strings.Contains(res.Err, "refused address") {
		t.Errorf("after rebinding to 10.0.0.1: %+v, want refused", res)
	}
	if res := get(t, c, u); res.Err != "" || res.Status != 200 {
		t.Errorf("metadata then loopback: the loopback address should be used: %+v", res)
	}
	want := []string{"127.0.0.1:" + itoa(port), "127.0.0.1:" + itoa(port)}
	if strings.Join(r.dialed, ",") != strings.Join(want, ",") {
		t.Errorf("dialed %v, want %v: a refused address is never dialed", r.dialed, want)
	}
}

// TestRefusedLiteralIsNeverDialed: an IP literal the guard refuses never
// reaches the dialer.
func TestRefusedLiteralIsNeverDialed(t *testing.T) {
	r := &recordingDialer{}
	c := newEgressClientWith(r.guard(t, nil))
	for _, u := range []string{"http://127.0.0.1:9/", "http://[::ffff:169.254.169.254]/latest/meta-data/", "http://[2002:a9fe:a9fe::1]/", "http://[64:ff9b::a00:1]/"} {
		if res := get(t, c, u); !strings.Contains(res.Err, "refused address") {
			t.Errorf("%s: %+v, want refused", u, res)
		}
	}
	if len(r.dialed) != 0 {
		t.Errorf("dialed %v", r.dialed)
	}
}

// TestSecretHeadersDroppedOnCrossHostRedirect: a redirect to another host
// (here another port of loopback) gets neither the Secret headers nor
// Authorization or Cookie; one on the same host keeps them.
func TestSecretHeadersDroppedOnCrossHostRedirect(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			seen[name+req.URL.Path] = req.Header.Clone()
			mu.Unlock()
			_, _ = w.Write([]byte("ok"))
		}
	}
	other := httptest.NewServer(record("other"))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, other.URL+"/landed", http.StatusFound)
	})
	mux.HandleFunc("/stay", func(w http.ResponseWriter, req *http.Request) { http.Redirect(w, req, "/landed", http.StatusFound) })
	mux.HandleFunc("/landed", record("origin"))
	origin := httptest.NewServer(mux)
	defer origin.Close()

	c := newEgressClient(mustPrefixes("127.0.0.0/8"))
	headers := []flow.Header{
		{Name: "X-Api-Key", SecretRef: flow.SecretRef{Name: "crm", Key: "key"}},
		{Name: "Authorization", Value: "Bearer typed-in"},
		{Name: "Cookie", Value: "session=1"},
		{Name: "X-Trace", Value: "t-1"},
	}
	if res := get(t, c, origin.URL+"/away", headers...); res.Err != "" {
		t.Fatal(res.Err)
	}
	if res := get(t, c, origin.URL+"/stay", headers...); res.Err != "" {
		t.Fatal(res.Err)
	}
	away, stay := seen["other/landed"], seen["origin/landed"]
	for _, h := range []string{"X-Api-Key", "Authorization", "Cookie"} {
		if v := away.Get(h); v != "" {
			t.Errorf("the other host got %s: %q", h, v)
		}
	}
	if away.Get("X-Trace") != "t-1" {
		t.Errorf("a plain header is kept: %v", away)
	}
	if stay.Get("X-Api-Key") != "secret-of-crm" || stay.Get("Authorization") != "Bearer typed-in" {
		t.Errorf("the same host keeps the headers: %v", stay)
	}
}

func TestLeavesOrigin(t *testing.T) {
	for _, tt := range []struct {
		from, to string
		leaves   bool
	}{
		{"https://api.example.com/a", "https://api.example.com/b", false},
		{"https://api.example.com/a", "https://API.example.com/b", false},
		{"https://api.example.com/a", "https://evil.example.com/b", true},
		{"https://api.example.com/a", "https://sub.api.example.com/b", true},
		{"https://api.example.com/a", "https://api.example.com:8443/b", true},
		{"https://api.example.com/a", "http://api.example.com/b", true},
		{"http://api.example.com/a", "https://api.example.com/b", false},
	} {
		a, _ := url.Parse(tt.from)
		b, _ := url.Parse(tt.to)
		if got := leavesOrigin(a, b); got != tt.leaves {
			t.Errorf("%s -> %s: leaves %v, want %v", tt.from, tt.to, got, tt.leaves)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
