package studio

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/transcript"
)

// The browser tests drive the embedded front end in Debian's headless
// Chromium (apt-get install chromium; .ci/run installs it) through the
// DevTools protocol, against a real studio backend.

var screenshots = flag.String("screenshots", "", "write screenshots of the canvas into this directory (docs/images)")

// chromium finds the browser: $CHROMIUM, else Debian's.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("the browser tests need Chromium: apt-get install chromium (or set CHROMIUM to its path)")
	return ""
}

// browser is a headless Chromium tab for a test.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	// Not t.TempDir: Chromium's helpers may still write there for a moment
	// after it exits, which would fail the test's own clean-up.
	profile, err := os.MkdirTemp("", "studio-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1600, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	if err := chromedp.Run(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	return &browser{t: t, ctx: ctx}
}

// run runs actions with a generous bound: a deadline that passes is a
// failure of the behaviour, never a timing measurement.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var banner, problems string
		_ = chromedp.Run(b.ctx, chromedp.Evaluate(`(document.querySelector('[data-testid=banner]')||{}).innerText||''`, &banner))
		_ = chromedp.Run(b.ctx, chromedp.Evaluate(`Array.from(document.querySelectorAll('.fnode-errors, .flow-problems')).map(e => e.title || e.innerText).join(' | ')`, &problems))
		b.t.Fatalf("%s: %v (banner: %q; problems: %s)", what, err, banner, problems)
	}
}

func (b *browser) eval(js string, into any) {
	b.t.Helper()
	b.run("evaluating "+js, chromedp.Evaluate(js, into))
}

// waitJS waits until a JavaScript condition holds.
func (b *browser) waitJS(what, cond string) {
	b.t.Helper()
	b.run("waiting for "+what, chromedp.Poll(cond, nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("reading "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	if *screenshots == "" {
		return
	}
	var png []byte
	b.run("screenshot", chromedp.Sleep(300*time.Millisecond), chromedp.CaptureScreenshot(&png))
	if err := os.WriteFile(filepath.Join(*screenshots, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// center is the middle of an element on the page.
func (b *browser) center(sel string) (float64, float64) {
	b.t.Helper()
	var xy []float64
	b.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`, sel), &xy)
	return xy[0], xy[1]
}

// drag drags with the mouse from one element to another, in steps, as a
// person does: React Flow connects handles on real pointer events.
func (b *browser) drag(from, to string) {
	b.t.Helper()
	x0, y0 := b.center(from)
	x1, y1 := b.center(to)
	acts := []chromedp.Action{
		chromedp.MouseEvent(input.MouseMoved, x0, y0),
		chromedp.MouseEvent(input.MousePressed, x0, y0, chromedp.ButtonLeft, chromedp.ClickCount(1)),
	}
	for i := 1; i <= 10; i++ {
		f := float64(i) / 10
		acts = append(acts, chromedp.MouseEvent(input.MouseMoved, x0+(x1-x0)*f, y0+(y1-y0)*f, chromedp.ButtonLeft))
	}
	acts = append(acts, chromedp.MouseEvent(input.MouseReleased, x1, y1, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	b.run("dragging "+from+" to "+to, acts...)
}

// set types a value into a field the way React sees typing (the native
// value setter, then an input or change event) and leaves the field, which
// commits it.
func (b *browser) set(sel, value string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) return false;
		const proto = el.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype : el.tagName === 'SELECT' ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
		el.focus();
		Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, %q);
		el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true}));
		el.blur();
		return true;
	})()`, sel, value)
	var ok bool
	b.eval(js, &ok)
	if !ok {
		b.t.Fatalf("no field %s", sel)
	}
}

func (b *browser) setSelect(testid, value string) { b.set(`[data-testid="`+testid+`"]`, value) }

func (b *browser) problemCount() string { return b.text(`[data-testid=problem-count]`) }

// nodeIDs are the ids of the flow's nodes in a file.
func nodeIDs(t *testing.T, path, name string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range flowObject(t, data, name)["spec"].(map[string]any)["nodes"].([]any) {
		ids = append(ids, n.(map[string]any)["id"].(string))
	}
	return ids
}

func TestBrowserOpenEditSave(t *testing.T) {
	dir := workspaceOf(t, "order-status.yaml", "order-status.test.yaml", "instagram-faq.yaml")
	st := startStudio(t, Options{Paths: []string{dir}, Cluster: &Cluster{}})
	b := newBrowser(t)

	// Open a sample: every node is on the canvas.
	ids := nodeIDs(t, filepath.Join(dir, "order-status.yaml"), "order-status")
	b.run("opening the studio", chromedp.Navigate(st.s.URL()+"&file=order-status.yaml"))
	b.waitJS("the nodes", fmt.Sprintf(`document.querySelectorAll('.react-flow__node').length === %d`, len(ids)))
	for _, id := range ids {
		b.run("node "+id, chromedp.WaitVisible(`[data-testid="node-`+id+`"]`, chromedp.ByQuery))
	}
	var edges int
	b.eval(`document.querySelectorAll('.react-flow__edge').length`, &edges)
	if edges < len(ids)-1 {
		t.Errorf("%d edges for %d nodes", edges, len(ids))
	}
	if got := b.problemCount(); got != "no problems" {
		t.Errorf("the sample has problems: %q", got)
	}
	var url string
	b.eval(`window.location.href`, &url)
	if strings.Contains(url, "token=") {
		t.Errorf("the token stays in the address bar: %s", url)
	}
	b.screenshot("studio-canvas.png")

	// Search finds a node by its text.
	b.run("searching", chromedp.SendKeys(`[data-testid=search]`, "shipped\r", chromedp.ByQuery))
	b.waitJS("the matches", `document.querySelectorAll('.fnode.match').length >= 1`)
	b.set(`[data-testid=search]`, "")

	// Add a node from the palette.
	b.run("adding a SetVariables node", chromedp.Click(`[data-testid=palette-SetVariables]`, chromedp.ByQuery))
	b.run("the new node", chromedp.WaitVisible(`[data-testid="node-set-variables-1"]`, chromedp.ByQuery))
	b.run("its panel", chromedp.WaitVisible(`[data-testid=node-panel]`, chromedp.ByQuery))
	// Lay the canvas out again, then connect Start's next to it with the mouse.
	b.run("re-layout", chromedp.Click(`[data-testid=relayout]`, chromedp.ByQuery), chromedp.Sleep(500*time.Millisecond))
	b.drag(`.react-flow__handle[data-nodeid="start"][data-handleid="next"]`, `.react-flow__handle[data-nodeid="set-variables-1"][data-handleid="in"]`)
	var links string
	b.eval(`JSON.stringify(window.__studio.flow.spec.nodes.filter(n => JSON.stringify(n).includes('"set-variables-1"')).map(n => n.id))`, &links)
	if links != `["start","set-variables-1"]` {
		t.Fatalf("after the drag, the nodes naming set-variables-1 are %s", links)
	}
	// The new node goes nowhere: a dangling edge the compiler reports on it.
	b.waitJS("the problem on the new node", `document.querySelector('[data-testid="node-set-variables-1"] .fnode-errors') !== null`)
	var msgs string
	b.eval(`document.querySelector('[data-testid="node-set-variables-1"] .fnode-errors').title`, &msgs)
	if !strings.Contains(msgs, "next") {
		t.Errorf("the new node's problem: %q", msgs)
	}
	b.screenshot("studio-problem.png")

	// Undo takes the connection back, redo brings it again.
	b.run("undo", chromedp.Click(`[data-testid=undo]`, chromedp.ByQuery))
	b.waitJS("start → ask again", `window.__studio.flow.spec.nodes[0].next === 'ask'`)
	b.waitJS("redo enabled", `!document.querySelector('[data-testid=redo]').disabled`)
	b.run("redo", chromedp.Click(`[data-testid=redo]`, chromedp.ByQuery))
	b.waitJS("start → set-variables-1 again", `window.__studio.flow.spec.nodes[0].next === 'set-variables-1'`)

	// Fix it: the new node's next is ask.
	b.run("selecting the new node", chromedp.Click(`[data-testid="node-set-variables-1"] .fnode-head`, chromedp.ByQuery))
	b.run("its panel", chromedp.WaitVisible(`[data-testid="field-next"]`, chromedp.ByQuery))
	b.setSelect("field-next", "ask")
	b.waitJS("no problems", `document.querySelector('[data-testid=problem-count]').innerText === 'no problems'`)
	var since float64
	b.eval(`window.__studio.validated.sinceEdit`, &since)
	t.Logf("a link edit on the %d-node sample: problems on the canvas %.0f ms after the edit", len(ids)+1, since)

	// A property edit from the schema-generated panel: the variable's value.
	b.set(`[data-testid="field-setVariables.variables[0].value"]`, "canvas")

	// Save: the diff, then the file.
	b.run("save", chromedp.Click(`[data-testid=save]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=diff-modal]`, chromedp.ByQuery))
	diff := b.text(`[data-testid=diff-modal] pre`)
	for _, want := range []string{"-    next: ask", "+    next: set-variables-1", "+  - id: set-variables-1", "+        value: canvas"} {
		if !strings.Contains(diff, want) {
			t.Errorf("the diff lacks %q:\n%s", want, diff)
		}
	}
	b.run("confirm", chromedp.Click(`[data-testid=confirm-save]`, chromedp.ByQuery))
	b.waitJS("saved", `(document.querySelector('[data-testid=banner]')||{innerText:''}).innerText.includes('Saved')`)

	// The saved file lints clean and passes its transcript tests.
	data, err := os.ReadFile(filepath.Join(dir, "order-status.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r := lint.Lint([]manifest.Source{{Name: "order-status.yaml", Data: data}}); len(r.Problems) > 0 {
		t.Fatalf("the saved file has problems: %v", r.Problems)
	}
	tdata, err := os.ReadFile(filepath.Join(dir, "order-status.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tf, prog, ch, err := transcript.Load(manifest.Source{Name: "order-status.yaml", Data: data}, manifest.Source{Name: "order-status.test.yaml", Data: tdata})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range transcript.Run(tf, prog, ch, nil) {
		if !r.Passed() {
			t.Errorf("transcript test %s fails on the saved file:\n%s", r.Name, r.Failure)
		}
	}
	if !strings.Contains(string(data), "# A WhatsApp order-status assistant") {
		t.Error("the save lost the file's comments")
	}

	// The tests tab runs the same tests from the canvas.
	b.run("tests tab", chromedp.Click(`[data-testid=tab-tests]`, chromedp.ByQuery), chromedp.Click(`[data-testid=run-tests]`, chromedp.ByQuery))
	b.run("test results", chromedp.WaitVisible(`[data-testid=test-summary]`, chromedp.ByQuery))
	if got := b.text(`[data-testid=test-summary]`); !strings.HasSuffix(got, " passed, 0 failed") {
		t.Errorf("tests tab: %q", got)
	}
}

// bigFlow writes a valid flow of n nodes: a chain of messages with a
// Condition every tenth node.
func bigFlow(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: chatflow.dev/v1alpha1\nkind: ChatFlow\nmetadata:\n  name: big\nspec:\n  trigger:\n    type: WhatsApp\n  nodes:\n  - id: start\n    type: Start\n    next: n1\n")
	for i := 1; i < n-1; i++ {
		next := fmt.Sprintf("n%d", i+1)
		if i+1 == n-1 {
			next = "end"
		}
		if i%10 == 0 {
			fmt.Fprintf(&b, "  - id: n%d\n    type: Condition\n    condition:\n      branches:\n      - when: 'message.text == \"%d\"'\n        next: %s\n      default: %s\n", i, i, next, next)
			continue
		}
		fmt.Fprintf(&b, "  - id: n%d\n    type: SendMessage\n    sendMessage:\n      text: \"Message {{ contact.name }} %d\"\n    next: %s\n", i, i, next)
	}
	b.WriteString("  - id: end\n    type: End\n")
	return b.String()
}

// TestBrowserSpeed opens a 500-node flow and edits a property, and reports
// how long that took (figures only: no timing is a pass or a failure).
func TestBrowserSpeed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), []byte(bigFlow(500)), 0o644); err != nil {
		t.Fatal(err)
	}
	st := startStudio(t, Options{Paths: []string{dir}, Cluster: &Cluster{}})
	b := newBrowser(t)
	var opened []float64
	for range 3 {
		b.run("opening", chromedp.Navigate(st.s.URL()+"&file=big.yaml"))
		b.waitJS("the flow on the canvas", `!!(window.__studio.opened && window.__studio.opened.rendered && window.__studio.opened.nodes === 500 && document.querySelectorAll('.react-flow__node').length > 0)`)
		var ms, layoutMs float64
		b.eval(`window.__studio.opened.rendered`, &ms)
		b.eval(`window.__studio.layoutMs`, &layoutMs)
		opened = append(opened, ms)
		t.Logf("500 nodes: opened and laid out %.0f ms after navigation (layout %.0f ms)", ms, layoutMs)
	}
	if got := b.problemCount(); got != "no problems" {
		t.Errorf("the 500-node flow has problems: %q", got)
	}
	// A property edit: the time from the edit to its problems on the canvas.
	b.run("selecting a node", chromedp.Click(`[data-testid=search]`, chromedp.ByQuery), chromedp.SendKeys(`[data-testid=search]`, `}} 3"`+"\r", chromedp.ByQuery))
	b.run("panel", chromedp.WaitVisible(`[data-testid="field-sendMessage.text"]`, chromedp.ByQuery))
	for i := range 5 {
		var before float64
		b.eval(`(window.__studio.validated||{seq:0}).seq`, &before)
		b.set(`[data-testid="field-sendMessage.text"]`, fmt.Sprintf("edit %d {{ vars.x", i))
		b.waitJS("re-validated", fmt.Sprintf(`(window.__studio.validated||{seq:0}).seq > %v && window.__studio.validated.shown !== undefined`, before))
		var shown, since, req float64
		b.eval(`window.__studio.validated.shown`, &shown)
		b.eval(`window.__studio.validated.sinceEdit`, &since)
		b.eval(`window.__studio.validated.requestMs`, &req)
		var probs float64
		b.eval(`window.__studio.validated.problems`, &probs)
		if probs == 0 {
			t.Errorf("an unclosed template passes validation")
		}
		t.Logf("property edit on 500 nodes: problems on the canvas %.0f ms after the edit (answered after %.0f ms, of which the request %.0f ms)", shown, since, req)
	}
}
