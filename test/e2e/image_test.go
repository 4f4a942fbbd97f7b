package e2e

import (
	"debug/elf"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/testenv"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// dockerBuild is the `go build` command of the Dockerfile's build stage,
// its environment assignments and its arguments, and what the final stage
// copies from its output.
type dockerBuild struct {
	env  []string
	args []string
	out  string // the -o value: a file, or a directory when it ends in /
	// copies maps each file of the image the final stage copies from the
	// build stage (COPY --from=build) to where it comes from.
	copies map[string]string
}

// parseDockerfile finds the RUN instruction that runs `go build` and
// splits it into environment and arguments, with the build arguments
// TARGETOS and TARGETARCH set for this machine, and reads the COPY
// instructions of the final stage.
func parseDockerfile(text string) (dockerBuild, error) {
	// Join continuation lines so each instruction is one line.
	joined := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(text, " ")
	var run string
	copies := map[string]string{}
	for _, line := range strings.Split(joined, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, " go build ") {
			if run != "" {
				// One line builds every binary with the same flags, and
				// this test builds that line.
				return dockerBuild{}, fmt.Errorf("more than one RUN instruction runs go build: build every binary in one")
			}
			run = line
		}
		if f := strings.Fields(line); len(f) == 4 && f[0] == "COPY" && f[1] == "--from=build" {
			copies[f[3]] = f[2]
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
	b.copies = copies
	return b, nil
}

// outputs maps each file of the image that comes from the build's output
// to where go build writes it under dir, were -o moved there. With -o DIR/
// go build names each binary after its package.
func (b dockerBuild) outputs(dir string) map[string]string {
	out := map[string]string{}
	for file, src := range b.copies {
		switch {
		case src == b.out:
			out[file] = filepath.Join(dir, path.Base(src))
		case strings.HasSuffix(b.out, "/") && strings.HasPrefix(src, b.out):
			out[file] = filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(src, b.out)))
		}
	}
	return out
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
	imageOnce  sync.Once
	imageFiles map[string]string // a file of the image -> its local build
	imageErr   error
)

// imageBinary builds the binaries exactly as the Dockerfile does, once per
// test run, and returns the path of the one the image holds at file (e.g.
// /chatflow). The end-to-end test runs that binary, so it tests what the
// image ships.
func imageBinary(t *testing.T, file string) string {
	t.Helper()
	imageOnce.Do(func() { imageFiles, imageErr = buildImageBinaries() })
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	bin, ok := imageFiles[file]
	if !ok {
		t.Fatalf("the Dockerfile does not copy %s from the output of its go build (it copies %v)", file, imageFiles)
	}
	return bin
}

func buildImageBinaries() (map[string]string, error) {
	root := testenv.RepoRoot()
	text, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return nil, err
	}
	b, err := parseDockerfile(string(text))
	if err != nil {
		return nil, err
	}
	dir, err := procs.ProcessDir("chatflow-image")
	if err != nil {
		return nil, err
	}
	args := slices.Clone(b.args)
	out := filepath.Join(dir, path.Base(b.out))
	if strings.HasSuffix(b.out, "/") {
		out = dir + string(filepath.Separator)
	}
	args[slices.Index(args, "-o")+1] = out
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), b.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s go build %s: %v\n%s", strings.Join(b.env, " "), strings.Join(b.args, " "), err, out)
	}
	files := b.outputs(dir)
	for file, local := range files {
		if _, err := os.Stat(local); err != nil {
			return nil, fmt.Errorf("the final stage copies %s from %s, which the go build did not make: %v", file, b.copies[file], err)
		}
	}
	return files, nil
}

// TestDockerfile checks what can be checked of the image without a
// container engine: the build stage's `go build` makes the two binaries
// the final stage copies, /chatflow and /chatflow-executor, static (no ELF
// interpreter, no shared libraries), so they run on distroless/static;
// the final stage is distroless, non-root by number, and starts chatflow.
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
	for _, want := range []string{"USER 65532:65532", `ENTRYPOINT ["/chatflow"]`} {
		if !strings.Contains(string(text), "\n"+want) {
			t.Errorf("the Dockerfile lacks the line %q", want)
		}
	}

	// What each binary's --help must say: chatflow has every role, and
	// chatflow-executor (the operator's pods' command) is the executor.
	for file, help := range map[string][]string{
		"/chatflow":          {"manager", "executor"},
		"/chatflow-executor": {"chatflow-executor [flags]", "--flow", "--store"},
	} {
		bin := imageBinary(t, file)
		checkStatic(t, file, bin)
		out, err := exec.Command(bin, "--help").CombinedOutput()
		for _, want := range help {
			if err != nil || !strings.Contains(string(out), want) {
				t.Errorf("%s --help lacks %q: %v\n%s", file, want, err, out)
			}
		}
	}
}

// checkStatic fails the test if the binary needs an ELF interpreter or
// shared libraries, which distroless/static does not have.
func checkStatic(t *testing.T, file, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter (PT_INTERP): it is dynamically linked and cannot run on distroless/static", file)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", file, libs, err)
	}
}

func TestParseDockerfile(t *testing.T) {
	b, err := parseDockerfile("FROM x AS build\nRUN --mount=type=cache,target=/a \\\n    CGO_ENABLED=0 GOARCH=${TARGETARCH} go build -ldflags=\"-s -w\" -o /out/ . ./cmd/y\n" +
		"FROM z\nCOPY --from=build /out/x /x\nCOPY --from=build /out/y /bin/y\nCOPY notes.txt /\n")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.env, []string{"CGO_ENABLED=0", "GOARCH=" + runtime.GOARCH}) ||
		!slices.Equal(b.args, []string{"-ldflags=-s -w", "-o", "/out/", ".", "./cmd/y"}) || b.out != "/out/" {
		t.Errorf("%+v", b)
	}
	want := map[string]string{"/x": filepath.Join("/tmp/b", "x"), "/bin/y": filepath.Join("/tmp/b", "y")}
	if got := b.outputs("/tmp/b"); !maps.Equal(got, want) {
		t.Errorf("outputs %v, want %v", got, want)
	}

	one, err := parseDockerfile("RUN go build -o /out/x .\nCOPY --from=build /out/x /x\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := one.outputs("/tmp/b"); !maps.Equal(got, map[string]string{"/x": filepath.Join("/tmp/b", "x")}) {
		t.Errorf("outputs of -o FILE: %v", got)
	}
	if _, err := parseDockerfile("RUN go build -o /out/x .\nRUN go build -o /out/y ./y\n"); err == nil {
		t.Error("two go build lines: want an error, the test builds one")
	}
}
