package executor_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// TestStorePasswordFromTheEnvironment runs the executor the way the
// operator does on a Redis that requires a password: the URL on the command
// line holds none, the password comes from CHATFLOW_STORE_PASSWORD, and it
// is nowhere in the process's arguments, which every process of the node
// may read (/proc/PID/cmdline).
func TestStorePasswordFromTheEnvironment(t *testing.T) {
	const password = "pw-9f83b1c2e7"
	url, _ := redistest.Start(t, "requirepass "+password)
	r := newRig(t)
	e := procs.StartExecutor(t, procs.ExecutorSpec{
		Flow: echoFlow, Binding: binding(r.sandbox), Credentials: credentials, Store: url,
		Env: []string{"CHATFLOW_STORE_PASSWORD=" + password},
	})
	r.send(e, "15550009999", "wamid.pw-1", "hello")
	if got := r.waitTexts("15550009999", 1, 10*time.Second); len(got) != 1 || got[0] != "you said hello" {
		t.Fatalf("replies %q, want the echo through the password-protected store\n%s", got, e.Log())
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(e.Pid()) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cmdline), password) {
		t.Errorf("the password is in the executor's arguments: %q", strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	if !strings.Contains(string(cmdline), url) {
		t.Errorf("the arguments %q do not name the store %s", strings.ReplaceAll(string(cmdline), "\x00", " "), url)
	}
}
