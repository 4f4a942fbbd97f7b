package transcript

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// File is a test file.
type File struct {
	// Name of the file, for messages.
	Name string `yaml:"-"`

	Flow string `yaml:"flow"`
	// Flows are the files of the flows the flow forwards to
	// (ForwardToFlow), relative to the test file; a flow in the flow's own
	// file needs none.
	Flows      []string               `yaml:"flows"`
	Channel    message.Channel        `yaml:"channel"`
	Contact    *Contact               `yaml:"contact"`
	Now        string                 `yaml:"now"`
	HTTP       map[string]Responses   `yaml:"http"`
	AI         map[string]AIResponses `yaml:"ai"`
	SendErrors map[string]SendError   `yaml:"sendErrors"`
	Tests      []Test                 `yaml:"tests"`

	start time.Time
}

// Contact is who the flow talks to.
type Contact struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// Test is one conversation.
type Test struct {
	Name       string                 `yaml:"name"`
	Contact    *Contact               `yaml:"contact"`
	HTTP       map[string]Responses   `yaml:"http"`
	AI         map[string]AIResponses `yaml:"ai"`
	SendErrors map[string]SendError   `yaml:"sendErrors"`
	Transcript []Step                 `yaml:"transcript"`

	Line int `yaml:"-"`
}

// Response is a stubbed HTTP response.
type Response struct {
	Status  int               `yaml:"status"`
	JSON    any               `yaml:"json"`
	Body    *string           `yaml:"body"`
	Headers map[string]string `yaml:"headers"`
	Error   string            `yaml:"error"`
}

// Responses are the stubbed responses of one node: one, or a list
// answered in turn, the last one repeating.
type Responses []Response

// UnmarshalYAML takes one response or a list.
func (r *Responses) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		var list []Response
		if err := strict(n, &list); err != nil {
			return err
		}
		if len(list) == 0 {
			return lineErr(n, "give at least one response")
		}
		*r = list
		return nil
	}
	var one Response
	if err := strict(n, &one); err != nil {
		return err
	}
	*r = Responses{one}
	return nil
}

// AIResponse is a stubbed answer of a language model to an AI node: text
// (an AIReply's answer), label and confidence (an AIClassify's), json (a
// structured answer as it is, e.g. an AIExtract's fields, or one that
// does not validate), refusal (the model declines), or error (no answer:
// a timeout, an error status). One of them.
type AIResponse struct {
	Text       string   `yaml:"text"`
	Label      string   `yaml:"label"`
	Confidence *float64 `yaml:"confidence"`
	JSON       any      `yaml:"json"`
	Refusal    string   `yaml:"refusal"`
	Error      string   `yaml:"error"`
}

// AIResponses are the stubbed answers of one AI node: one, or a list
// answered in turn, the last one repeating. A plain string is a text.
type AIResponses []AIResponse

// UnmarshalYAML takes a text, one answer or a list.
func (r *AIResponses) UnmarshalYAML(n *yaml.Node) error {
	one := func(n *yaml.Node) (AIResponse, error) {
		var a AIResponse
		if n.Kind == yaml.ScalarNode {
			if err := scalar(n, &a.Text); err != nil {
				return a, err
			}
			return a, nil
		}
		if err := strict(n, &a); err != nil {
			return a, err
		}
		set := 0
		for _, has := range []bool{a.Text != "", a.Label != "", a.JSON != nil, a.Refusal != "", a.Error != ""} {
			if has {
				set++
			}
		}
		if set != 1 || (a.Confidence != nil && a.Label == "") {
			return a, lineErr(n, "an AI stub is one of text (AIReply), label with an optional confidence (AIClassify), json (AIExtract, or any structured answer), refusal or error")
		}
		return a, nil
	}
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			return lineErr(n, "give at least one answer")
		}
		for _, c := range n.Content {
			a, err := one(c)
			if err != nil {
				return err
			}
			*r = append(*r, a)
		}
		return nil
	}
	a, err := one(n)
	if err != nil {
		return err
	}
	*r = AIResponses{a}
	return nil
}

// SendError is a channel's refusal of a send.
type SendError struct {
	Code    int    `yaml:"code"`
	Message string `yaml:"message"`
}

// StepKind names what a step does.
type StepKind string

// The steps.
const (
	StepUser    StepKind = "user"
	StepTap     StepKind = "tap"
	StepInbound StepKind = "inbound"
	StepRun     StepKind = "run"
	StepTimer   StepKind = "timer"
	StepResume  StepKind = "resume"
	StepBot     StepKind = "bot"
	StepCall    StepKind = "call"
	StepHandoff StepKind = "handoff"
	StepVars    StepKind = "vars"
	StepWaiting StepKind = "waiting"
	StepEnded   StepKind = "ended"
)

var stepKinds = []StepKind{StepUser, StepTap, StepInbound, StepRun, StepTimer, StepResume,
	StepBot, StepCall, StepHandoff, StepVars, StepWaiting, StepEnded}

// Step is one line of a transcript: an input or an expectation. Only the
// members of its Kind are set.
type Step struct {
	Kind StepKind
	Line int

	Text    string          // user
	Tap     Tap             // tap
	Inbound message.Inbound // inbound
	Inputs  map[string]any  // run
	Node    string          // timer, resume, waiting
	Want    map[string]any  // bot, call, handoff, vars
	Ended   bool            // ended
}

// Tap is a tap on something offered.
type Tap struct {
	ID      string `yaml:"id"`
	Title   string `yaml:"title"`
	Payload string `yaml:"payload"`
}

var (
	botKeys     = []string{"text", "matches", "node", "buttons", "quickReplies", "list", "media", "template", "tag", "whatsapp"}
	callKeys    = []string{"node", "method", "url", "body", "headers"}
	handoffKeys = []string{"node", "queue", "url"}
)

// UnmarshalYAML reads a step: a mapping with one key.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	s.Line = n.Line
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return lineErr(n, "a transcript step is a mapping with one key: one of "+kindList())
	}
	k, v := n.Content[0], n.Content[1]
	s.Kind = StepKind(k.Value)
	switch s.Kind {
	case StepUser:
		return scalar(v, &s.Text)
	case StepTap:
		if v.Kind == yaml.ScalarNode {
			return scalar(v, &s.Tap.ID)
		}
		if err := strict(v, &s.Tap); err != nil {
			return err
		}
		if (s.Tap.ID == "") == (s.Tap.Payload == "") {
			return lineErr(v, "tap needs an id, or a payload for a template quick reply")
		}
		return nil
	case StepInbound:
		var in struct {
			Kind     message.Kind   `yaml:"kind"`
			Text     string         `yaml:"text"`
			ButtonID string         `yaml:"buttonId"`
			Payload  string         `yaml:"payload"`
			Media    *message.Media `yaml:"media"`
		}
		if err := strict(v, &in); err != nil {
			return err
		}
		s.Inbound = message.Inbound{Kind: in.Kind, Text: in.Text, ButtonID: in.ButtonID, Payload: in.Payload, Media: in.Media}
		if s.Inbound.Kind == "" {
			switch {
			case in.Media != nil:
				s.Inbound.Kind = message.KindMedia
			case in.ButtonID != "" || in.Payload != "":
				s.Inbound.Kind = message.KindButton
			default:
				s.Inbound.Kind = message.KindText
			}
		}
		return nil
	case StepRun:
		if v.ShortTag() == "!!null" {
			return nil
		}
		return value(v, &s.Inputs)
	case StepTimer, StepResume, StepWaiting:
		if err := scalar(v, &s.Node); err != nil {
			return err
		}
		if s.Node == "" {
			return lineErr(v, fmt.Sprintf("%s needs a node id", s.Kind))
		}
		return nil
	case StepBot:
		if v.Kind == yaml.ScalarNode {
			var t string
			if err := scalar(v, &t); err != nil {
				return err
			}
			s.Want = map[string]any{"text": t}
			return nil
		}
		return wantMap(v, &s.Want, botKeys)
	case StepCall:
		return wantMap(v, &s.Want, callKeys)
	case StepHandoff:
		if v.ShortTag() == "!!null" {
			s.Want = map[string]any{}
			return nil
		}
		return wantMap(v, &s.Want, handoffKeys)
	case StepVars:
		return wantMap(v, &s.Want, nil)
	case StepEnded:
		return v.Decode(&s.Ended)
	}
	return lineErr(k, fmt.Sprintf("unknown step %q: use one of %s", k.Value, kindList()))
}

func kindList() string {
	s := make([]string, len(stepKinds))
	for i, k := range stepKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Parse reads a test file. Unknown fields are errors, with their line.
func Parse(name string, data []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	f := &File{Name: name}
	if err := dec.Decode(f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty: write tests: [{name, transcript}]", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

var testKeys = []string{"name", "contact", "http", "ai", "sendErrors", "transcript"}

// UnmarshalYAML reads a test, keeping its line. Its own keys are checked
// here; the nested types check theirs.
func (t *Test) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return lineErr(n, "a test is a mapping: {name, transcript}")
	}
	if err := knownKeys(n, testKeys); err != nil {
		return err
	}
	type plain Test
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = Test(p)
	t.Line = n.Line
	return nil
}

// UnmarshalYAML reads a contact strictly.
func (c *Contact) UnmarshalYAML(n *yaml.Node) error {
	type plain Contact
	return strict(n, (*plain)(c))
}

// UnmarshalYAML reads a send error strictly.
func (e *SendError) UnmarshalYAML(n *yaml.Node) error {
	type plain SendError
	return strict(n, (*plain)(e))
}

func knownKeys(n *yaml.Node, keys []string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		found := false
		for _, kk := range keys {
			found = found || kk == k
		}
		if !found {
			return lineErr(n.Content[i], fmt.Sprintf("unknown field %q: use %s", k, strings.Join(keys, ", ")))
		}
	}
	return nil
}

// DefaultStart is the clock at the start of a test unless the file says.
var DefaultStart = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

// DefaultContact is the contact unless the file or the test says.
var DefaultContact = Contact{ID: "15550100100", Name: "Alex"}

func (f *File) check() error {
	if len(f.Tests) == 0 {
		return errors.New("no tests: write tests: [{name, transcript: [...]}]")
	}
	f.start = DefaultStart
	if f.Now != "" {
		t, err := time.Parse(time.RFC3339, f.Now)
		if err != nil {
			return fmt.Errorf("now: %w", err)
		}
		f.start = t
	}
	switch f.Channel {
	case "", message.WhatsApp, message.Instagram, message.Viber, message.Messenger:
	default:
		return fmt.Errorf("channel %q: use WhatsApp, Instagram, Viber or Messenger", f.Channel)
	}
	names := map[string]int{}
	for i, t := range f.Tests {
		if t.Name == "" {
			return fmt.Errorf("line %d: the test needs a name", t.Line)
		}
		if j, dup := names[t.Name]; dup {
			return fmt.Errorf("line %d: tests[%d] is also named %q: test names must be unique", t.Line, j, t.Name)
		}
		names[t.Name] = i
		if len(t.Transcript) == 0 {
			return fmt.Errorf("line %d: the test %q has no transcript", t.Line, t.Name)
		}
	}
	return nil
}

// strict decodes a node into v, refusing unknown fields: node.Decode
// cannot, so the node goes through an encoder and a strict decoder.
func strict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return shiftLines(err, n.Line-1)
	}
	return nil
}

// shiftLines corrects the line numbers of an error from re-decoding a node
// on its own to lines of the file.
func shiftLines(err error, by int) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && by > 0 {
		out := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			var line int
			var rest string
			if _, scanErr := fmt.Sscanf(e, "line %d:", &line); scanErr == nil {
				rest = e[strings.Index(e, ":")+1:]
				out[i] = fmt.Sprintf("line %d:%s", line+by, rest)
			} else {
				out[i] = e
			}
		}
		return &yaml.TypeError{Errors: out}
	}
	return err
}

func lineErr(n *yaml.Node, msg string) error { return fmt.Errorf("line %d: %s", n.Line, msg) }

func scalar(n *yaml.Node, s *string) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return lineErr(n, "expected a string")
	}
	*s = n.Value
	return nil
}

// value decodes a node into JSON-like data: maps, lists, strings, int64,
// float64, bools, nil.
func value(n *yaml.Node, out *map[string]any) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	m, ok := jsonish(v).(map[string]any)
	if !ok {
		return lineErr(n, "expected a mapping")
	}
	*out = m
	return nil
}

func wantMap(n *yaml.Node, out *map[string]any, keys []string) error {
	if n.Kind != yaml.MappingNode {
		return lineErr(n, "expected a mapping")
	}
	if err := value(n, out); err != nil {
		return err
	}
	if keys == nil {
		return nil
	}
	return knownKeys(n, keys)
}

// jsonish narrows decoded YAML to JSON types.
func jsonish(v any) any {
	switch t := v.(type) {
	case int:
		return int64(t)
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t)
		}
		return float64(t)
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	case []any:
		for i := range t {
			t[i] = jsonish(t[i])
		}
	case map[string]any:
		for k, e := range t {
			t[k] = jsonish(e)
		}
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = jsonish(e)
		}
		return m
	}
	return v
}
