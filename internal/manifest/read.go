package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Source is the content of one input, named as messages should name it.
type Source struct {
	// Name is the path as given (or found under a directory), or
	// StdinName for "-".
	Name string
	Data []byte
}

// StdinName names standard input in messages.
const StdinName = "<stdin>"

// MaxFileSize bounds one input: flows are small, and a mistaken argument
// (a binary, a log) should fail fast rather than eat memory.
const MaxFileSize = 32 << 20

// manifestExts are the file names a directory walk picks up.
var manifestExts = []string{".yaml", ".yml", ".json"}

// Read reads the inputs named by paths: files, directories (walked
// recursively for *.yaml, *.yml and *.json, skipping hidden entries such as
// .git) and "-" for stdin (read once, whatever its position). Files named
// explicitly are read whatever their extension. The order is the order of
// the arguments, files of a directory in lexical order, so that output is
// stable.
func Read(paths []string, stdin io.Reader) ([]Source, error) {
	var out []Source
	readStdin := false
	for _, p := range paths {
		if p == "-" {
			if readStdin {
				continue
			}
			readStdin = true
			b, err := readAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %w", err)
			}
			out = append(out, Source{Name: StdinName, Data: b})
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			s, err := ReadFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && slices.Contains(manifestExts, strings.ToLower(filepath.Ext(path))) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(files)
		for _, f := range files {
			s, err := ReadFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// ReadFile reads one file, or stdin for "-".
func ReadFile(path string) (Source, error) {
	if path == "-" {
		b, err := readAll(os.Stdin)
		return Source{Name: StdinName, Data: b}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Source{}, err
	}
	defer f.Close()
	b, err := readAll(f)
	if err != nil {
		return Source{}, fmt.Errorf("%s: %w", path, err)
	}
	return Source{Name: path, Data: b}, nil
}

var errTooBig = fmt.Errorf("larger than %d MiB: not a manifest", MaxFileSize>>20)

func readAll(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, errors.New("no input")
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, errTooBig
	}
	return b, nil
}

// ReadObject reads the file at path ("-" for stdin) and decodes its one
// object of the given kind (ChatFlow, ChannelBinding) of Chatflow's API
// into into with Object.Decode. Other objects of the file are ignored, so
// that the samples (a Secret, a flow and its binding in one file) can be
// passed as they are.
func ReadObject(path, kind string, into any) error {
	objs, err := ReadObjects(path, kind)
	if err != nil {
		return err
	}
	name := path
	if path == "-" {
		name = StdinName
	}
	switch len(objs) {
	case 0:
		return fmt.Errorf("%s: no %s in this file", name, kind)
	case 1:
		return objs[0].Decode(into)
	default:
		return fmt.Errorf("%s: %d objects of kind %s; pass a file with one", name, len(objs), kind)
	}
}

// ReadObjects reads the objects of a kind of the chatflow.dev group from a
// file (a file may hold other objects too): each of the supported version
// and with a name.
func ReadObjects(path, kind string) ([]Object, error) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := Parse(src)
	if err != nil {
		return nil, err
	}
	var found []Object
	for _, o := range objs {
		if o.Kind != kind || !strings.HasPrefix(o.APIVersion, "chatflow.dev/") {
			continue
		}
		if o.APIVersion != "chatflow.dev/v1alpha1" {
			return nil, fmt.Errorf("%s:%d: apiVersion %s is not supported: this chatflow reads chatflow.dev/v1alpha1", src.Name, o.Pos.at("apiVersion").Line, o.APIVersion)
		}
		if o.Name == "" {
			return nil, fmt.Errorf("%s:%d: the %s has no metadata.name", src.Name, o.Start().Line, kind)
		}
		found = append(found, o)
	}
	return found, nil
}
