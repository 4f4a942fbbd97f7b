package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a writer the command writes from its own goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// chatflow studio prints a loopback URL with a token; the page answers
// with it and not without; Ctrl-C (the context) stops it.
func TestStudioCommandServesOnLoopbackWithAToken(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile("../../config/samples/order-status.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/order-status.yaml", sample, 0o644); err != nil {
		t.Fatal(err)
	}
	root := NewRoot()
	var out syncBuffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"studio", "--offline", dir})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	url := regexp.MustCompile(`open (http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{48})\n`)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed: %q", out.String())
		}
		m = url.FindStringSubmatch(out.String())
	}
	for _, c := range []struct {
		url  string
		want int
	}{{m[1], http.StatusOK}, {strings.Split(m[1], "?")[0], http.StatusUnauthorized}} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s: %s %s", c.url, resp.Status, body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("studio ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("studio did not stop")
	}
}
