package e2e

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// dockerBuild is the `go build` command of the Dockerfile's build stage:
// its environment assignments and its arguments.
type dockerBuild struct {
	env  []string
	args []string
	out  string // the -o value
}

// parseDockerfile finds the RUN instruction that runs `go build` and
// splits it into environment and arguments, with the build arguments
// TARGETOS and TARGETARCH set for this machine.
func parseDockerfile(text string) (dockerBuild, error) {
	// Join continuation lines so each instruction is one line.
	joined := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(text, " ")
	var run string
	for _, line := range strings.Split(joined, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "RUN ") && strings.Contains(line, " go build ") {
			run = strings.TrimSpace(line)
		}
	}
	if run == "" {
		return dockerBuild{}, fmt.Errorf("no RUN instruction runs go build")
	}
	words, err := shellWords(strings.TrimPrefix(run, "RUN "))
	if err != nil {
		return dockerBuild{}, err
	}
	vars := map[string]string{"TARGETOS": "linux", "TARGETARCH": runtime.GOARCH}
	expand := func(s string) string { return os.Expand(s, func(k string) string { return vars[k] }) }
	var b dockerBuild
	i := 0
	for ; i < len(words); i++ {
		w := words[i]
		switch {
		case strings.HasPrefix(w, "--mount="):
		case regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(w):
			b.env = append(b.env, expand(w))
		default:
			goto command
		}
	}
command:
	if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
		return dockerBuild{}, fmt.Errorf("the RUN instruction is not `[VAR=value...] go build ...`: %q", run)
	}
	b.args = slices.Clone(words[i+2:])
	for j, a := range b.args {
		if a == "-o" && j+1 < len(b.args) {
			b.out = b.args[j+1]
		}
	}
	if b.out == "" {
		return dockerBuild{}, fmt.Errorf("go build has no -o: %q", run)
	}
	return b, nil
}

// shellWords splits a command line the way sh does for plain words,
// single and double quotes (no expansions).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

var (
	imageOnce sync.Once
	imagePath string
	imageErr  error
)

// imageBinary builds chatflow exactly as the Dockerfile does, once per
// test run, and returns its path. The end-to-end test runs this binary,
// so it tests what the image ships.
func imageBinary(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		root := testenv.RepoRoot()
		text, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
		if err != nil {
			imageErr = err
			return
		}
		b, err := parseDockerfile(string(text))
		if err != nil {
			imageErr = err
			return
		}
		dir, err := os.MkdirTemp("", "chatflow-image-")
		if err != nil {
			imageErr = err
			return
		}
		imagePath = filepath.Join(dir, "chatflow")
		args := slices.Clone(b.args)
		args[slices.Index(args, "-o")+1] = imagePath
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), b.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("%s go build %s: %v\n%s", strings.Join(b.env, " "), strings.Join(b.args, " "), err, out)
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imagePath
}

// TestDockerfile checks what can be checked of the image without a
// container engine: the build stage's `go build` makes a static binary
// (no ELF interpreter, no shared libraries), so it runs on
// distroless/static; the final stage is distroless, non-root by number,
// and starts the binary.
func TestDockerfile(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseDockerfile(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(b.env, "CGO_ENABLED=0") {
		t.Errorf("the build does not set CGO_ENABLED=0: %q", b.env)
	}
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(text), -1)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, found FROM %v", stages)
	}
	if final := stages[len(stages)-1][1]; final != "gcr.io/distroless/static:nonroot" {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static:nonroot", final)
	}
	for _, want := range []string{"USER 65532:65532", `ENTRYPOINT ["/chatflow"]`, "COPY --from=build " + b.out + " /chatflow"} {
		if !strings.Contains(string(text), "\n"+want) {
			t.Errorf("the Dockerfile lacks the line %q", want)
		}
	}

	bin := imageBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter (PT_INTERP): it is dynamically linked and cannot run on distroless/static")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "manager") || !strings.Contains(string(out), "executor") {
		t.Errorf("the binary does not offer both roles: %v\n%s", err, out)
	}
}

func TestParseDockerfile(t *testing.T) {
	b, err := parseDockerfile("FROM x AS build\nRUN --mount=type=cache,target=/a \\\n    CGO_ENABLED=0 GOARCH=${TARGETARCH} go build -ldflags=\"-s -w\" -o /out/x .\n")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.env, []string{"CGO_ENABLED=0", "GOARCH=" + runtime.GOARCH}) ||
		!slices.Equal(b.args, []string{"-ldflags=-s -w", "-o", "/out/x", "."}) || b.out != "/out/x" {
		t.Errorf("%+v", b)
	}
}
