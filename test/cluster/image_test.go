//go:build cluster

package cluster

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// finalStage is what the Dockerfile's final stage declares about the image.
type finalStage struct {
	from       string
	files      []string // destinations of COPY --from=build
	user       string
	entrypoint []string
	cmd        []string
	labels     map[string]string
}

var labelPair = regexp.MustCompile(`([A-Za-z0-9._/-]+)=("(?:[^"\\]|\\.)*"|\S+)`)

// parseFinalStage reads the instructions after the Dockerfile's last FROM.
func parseFinalStage(text string) (finalStage, error) {
	joined := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(text, " ")
	var st finalStage
	for _, line := range strings.Split(joined, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			st = finalStage{from: rest, labels: map[string]string{}}
		case "LABEL":
			for _, m := range labelPair.FindAllStringSubmatch(rest, -1) {
				v := m[2]
				if strings.HasPrefix(v, `"`) {
					u, err := strconv.Unquote(v)
					if err != nil {
						return st, fmt.Errorf("LABEL %s: %w", m[1], err)
					}
					v = u
				}
				st.labels[m[1]] = v
			}
		case "COPY":
			f := strings.Fields(rest)
			if len(f) == 3 && f[0] == "--from=build" {
				st.files = append(st.files, f[2])
			}
		case "USER":
			st.user = rest
		case "ENTRYPOINT", "CMD":
			var exec []string
			if err := json.Unmarshal([]byte(rest), &exec); err != nil {
				return st, fmt.Errorf("%s is not in exec form (a JSON array): %q", instr, rest)
			}
			if strings.EqualFold(instr, "ENTRYPOINT") {
				st.entrypoint = exec
			} else {
				st.cmd = exec
			}
		}
	}
	if st.from == "" {
		return st, fmt.Errorf("no FROM")
	}
	return st, nil
}

// imageFile is a file of an image's layers.
type imageFile struct {
	mode     int64
	uid, gid int
	data     []byte
	typeflag byte
}

// image is an image tarball in `docker save` format, as `crane mutate -o`
// writes it: its config and the union of its layers.
type image struct {
	repoTags []string
	config   struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			User       string            `json:"User"`
			Entrypoint []string          `json:"Entrypoint"`
			Cmd        []string          `json:"Cmd"`
			Labels     map[string]string `json:"Labels"`
		} `json:"config"`
	}
	files map[string]imageFile
}

func readImage(file string) (*image, error) {
	entries := map[string][]byte{}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if entries[h.Name], err = io.ReadAll(tr); err != nil {
			return nil, err
		}
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		return nil, fmt.Errorf("manifest.json: %v (%d images)", err, len(manifest))
	}
	img := &image{repoTags: manifest[0].RepoTags, files: map[string]imageFile{}}
	if err := json.Unmarshal(entries[manifest[0].Config], &img.config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	for _, l := range manifest[0].Layers {
		data, ok := entries[l]
		if !ok {
			return nil, fmt.Errorf("layer %s is missing", l)
		}
		if err := img.addLayer(data); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l, err)
		}
	}
	return img, nil
}

func (img *image) addLayer(data []byte) error {
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		content, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		img.files[name] = imageFile{mode: h.Mode, uid: h.Uid, gid: h.Gid, data: content, typeflag: h.Typeflag}
	}
}

// TestImageMatchesDockerfile checks that the image hack/image.sh assembles
// from binaries (make image; no docker engine here) is the image the
// Dockerfile describes: the files its final stage copies, as static
// executables; its user, entrypoint, cmd and labels; no shell.
func TestImageMatchesDockerfile(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(repoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseFinalStage(string(text))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(want.files) < 2 || want.user == "" || len(want.entrypoint) == 0 || len(want.labels) == 0 {
		t.Fatalf("the Dockerfile's final stage was not understood: %+v", want)
	}
	img, err := readImage(filepath.Join(imageDir(), "chatflow.tar"))
	if err != nil {
		t.Fatalf("the image of make image: %v", err)
	}
	if !slices.Contains(img.repoTags, chatflowImage()) {
		t.Errorf("the image is tagged %v, want %s", img.repoTags, chatflowImage())
	}
	c := img.config
	if c.OS != "linux" || c.Architecture == "" {
		t.Errorf("platform %s/%s, want linux/<arch>", c.OS, c.Architecture)
	}
	if c.Config.User != want.user {
		t.Errorf("user %q, the Dockerfile's USER is %q", c.Config.User, want.user)
	}
	if !slices.Equal(c.Config.Entrypoint, want.entrypoint) {
		t.Errorf("entrypoint %q, the Dockerfile's is %q", c.Config.Entrypoint, want.entrypoint)
	}
	if !slices.Equal(c.Config.Cmd, want.cmd) {
		t.Errorf("cmd %q, the Dockerfile's is %q", c.Config.Cmd, want.cmd)
	}
	for k, v := range want.labels {
		if c.Config.Labels[k] != v {
			t.Errorf("label %s = %q, the Dockerfile's is %q", k, c.Config.Labels[k], v)
		}
	}
	for k := range c.Config.Labels {
		if _, ok := want.labels[k]; !ok {
			t.Errorf("label %s is not the Dockerfile's", k)
		}
	}
	for _, file := range want.files {
		f, ok := img.files[file]
		if !ok {
			t.Errorf("%s, which the Dockerfile copies, is not in the image", file)
			continue
		}
		if f.typeflag != tar.TypeReg || f.mode&0o111 == 0 {
			t.Errorf("%s is not an executable file (type %c, mode %o)", file, f.typeflag, f.mode)
			continue
		}
		ef, err := elf.NewFile(bytes.NewReader(f.data))
		if err != nil {
			t.Errorf("%s is not an ELF binary: %v", file, err)
			continue
		}
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked; the final stage (distroless/static) has no libc", file)
			}
		}
	}
	for name := range img.files {
		switch path.Base(name) {
		case "sh", "bash", "dash", "busybox":
			t.Errorf("the image has a shell, %s; the Dockerfile's final stage (distroless) has none", name)
		}
	}
	// USER is numeric so runAsNonRoot can verify it; the user also exists,
	// as in distroless's nonroot, for programs that look it up.
	uid, _, _ := strings.Cut(want.user, ":")
	if passwd := string(img.files["/etc/passwd"].data); !regexp.MustCompile(`(?m)^[^:]+:x:` + regexp.QuoteMeta(uid) + `:`).MatchString(passwd) {
		t.Errorf("/etc/passwd has no user %s:\n%s", uid, passwd)
	}
	if f, ok := img.files["/tmp"]; !ok || f.mode&0o1777 != 0o1777 {
		t.Errorf("/tmp is missing or not world-writable with the sticky bit: %+v", ok)
	}
}
