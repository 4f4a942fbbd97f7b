package transcript

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// TestsFileFor is the conventional test file of a flow file:
// order-status.yaml → order-status.test.yaml.
func TestsFileFor(flowFile string) string {
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if strings.HasSuffix(flowFile, ext) {
			return strings.TrimSuffix(flowFile, ext) + ".test.yaml"
		}
	}
	return flowFile + ".test.yaml"
}

// FlowFileFor is the flow file of a conventional test file:
// order-status.test.yaml → order-status.yaml.
func FlowFileFor(testsFile string) string {
	for _, ext := range []string{".test.yaml", ".test.yml"} {
		if strings.HasSuffix(testsFile, ext) {
			return strings.TrimSuffix(testsFile, ext) + ".yaml"
		}
	}
	return ""
}

// Load reads a test file and the flow it tests from its flow file (a
// manifest or an exported flow), which must lint clean. The program is
// compiled for the channel the tests send on, and linked, as the operator
// links it, with the flows it forwards to: those of its own file and of
// the files the test file lists in flows:.
func Load(flowSrc, testsSrc manifest.Source) (*File, *flow.Program, message.Channel, error) {
	tf, f, r, err := LoadLinted(flowSrc, testsSrc)
	if err != nil {
		return nil, nil, "", err
	}
	prog, ch := f.Program, f.Channel
	if tf.Channel != "" && tf.Channel != ch {
		if f.Admitted.Spec.Trigger.Type != v1alpha1.TriggerManual {
			return nil, nil, "", fmt.Errorf("%s: channel: the flow is triggered by %s; only a Manual flow sends on a channel of the test's choosing", tf.Name, f.Admitted.Spec.Trigger.Type)
		}
		p, errs := flow.Compile(&f.Admitted.Spec, flow.Options{Channel: tf.Channel, FlowName: f.Object.Name})
		if len(errs) > 0 {
			return nil, nil, "", fmt.Errorf("%s: the flow is not valid on %s: %v", tf.Name, tf.Channel, errs.ToAggregate())
		}
		if len(p.Calls()) > 0 {
			var called []*flow.Program
			for _, o := range r.Flows {
				if slices.Contains(prog.Linked(), o.Object.Name) {
					cp, errs := flow.Compile(&o.Admitted.Spec, flow.Options{Channel: tf.Channel, FlowName: o.Object.Name})
					if len(errs) > 0 {
						return nil, nil, "", fmt.Errorf("%s: ChatFlow %s is not valid on %s: %v", tf.Name, o.Object.Name, tf.Channel, errs.ToAggregate())
					}
					called = append(called, cp)
				}
			}
			if p, errs = flow.Link(p, called); len(errs) > 0 {
				return nil, nil, "", fmt.Errorf("%s: on %s: %v", tf.Name, tf.Channel, errs.ToAggregate())
			}
		}
		prog, ch = p, tf.Channel
	}
	return tf, prog, ch, nil
}

// LoadLinted reads a test file and lints the flow it tests together with
// the flows it forwards to (flows:, read relative to the test file). It
// returns the test file, the tested flow and the whole lint result; the
// flow is refused when it forwards to a flow none of those files has.
func LoadLinted(flowSrc, testsSrc manifest.Source) (*File, *lint.Flow, *lint.Result, error) {
	tf, err := Parse(testsSrc.Name, testsSrc.Data)
	if err != nil {
		return nil, nil, nil, err
	}
	srcs := []manifest.Source{flowSrc}
	for _, name := range tf.Flows {
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(testsSrc.Name), name)
		}
		src, err := manifest.ReadFile(path)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: flows: %w", tf.Name, err)
		}
		srcs = append(srcs, src)
	}
	r := lint.Lint(srcs)
	f, err := r.Valid(tf.Flow)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, p := range r.Problems {
		if p.File != flowSrc.Name {
			return nil, nil, nil, fmt.Errorf("%s: a flow it forwards to is not valid (see chatflow lint): %s", tf.Name, p)
		}
	}
	if calls, linked := f.Program.Calls(), f.Program.Linked(); len(calls) > 0 && len(linked) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: the flow forwards to %s: list the file of each flow it calls under flows: in the test file",
			tf.Name, strings.Join(calls, ", "))
	}
	return tf, f, r, nil
}

// Report writes the results, one line per test and the failures in full,
// then "N passed, N failed". It returns the number of failures.
func Report(w io.Writer, results []Result, verbose bool) int {
	failed := 0
	for _, r := range results {
		if r.Passed() {
			if verbose {
				fmt.Fprintf(w, "ok   %s\n", r.Name)
			}
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s\n%s\n", r.Name, indent(r.Failure, "    "))
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", len(results)-failed, failed)
	return failed
}

// Filter compiles a --run pattern; empty means every test.
func Filter(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	return regexp.Compile(pattern)
}
