package studio

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFrontEndUnit runs the front end's Vitest tests (web/studio/src/*.test.ts)
// with Node: node_modules is installed from the committed lockfile by npm ci
// (from npm's cache when it has the packages), once per lockfile.
func TestFrontEndUnit(t *testing.T) {
	web, err := filepath.Abs("../../web/studio")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("the front end's unit tests need Node.js and npm (apt-get install nodejs npm, or see .ci/run)")
	}
	lock, err := os.ReadFile(filepath.Join(web, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	stamp := filepath.Join(web, "node_modules", ".chatflow-lock.sha256")
	if got, _ := os.ReadFile(stamp); string(got) != hex.EncodeToString(sum[:]) {
		run(t, web, "npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")
		if err := os.WriteFile(stamp, []byte(hex.EncodeToString(sum[:])), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, web, "npx", "--no-install", "vitest", "run")
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CI=true", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	t.Logf("%s %v:\n%s", name, args, out)
}
