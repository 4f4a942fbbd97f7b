package capability

import (
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

func TestFor(t *testing.T) {
	tests := []struct {
		ch           message.Channel
		ok           bool
		textMax      int
		buttons      int
		buttonTitle  int
		list         bool
		quickReplies int
		templates    bool
		tags         []string
		media        []message.MediaKind
		noMedia      []message.MediaKind
	}{
		{ch: message.WhatsApp, ok: true, textMax: 4096, buttons: 3, buttonTitle: 20, list: true, templates: true,
			media: []message.MediaKind{message.Image, message.Video, message.Audio, message.Document, message.Sticker}},
		{ch: message.Messenger, ok: true, textMax: 1999, buttons: 3, buttonTitle: 20, quickReplies: 13, tags: []string{"HUMAN_AGENT"},
			media: []message.MediaKind{message.Image, message.Video, message.Audio, message.Document}, noMedia: []message.MediaKind{message.Sticker}},
		{ch: message.Instagram, ok: true, textMax: 999, quickReplies: 13, tags: []string{"HUMAN_AGENT"},
			media: []message.MediaKind{message.Image, message.Video, message.Audio}, noMedia: []message.MediaKind{message.Document, message.Sticker}},
		{ch: message.Viber, ok: true, textMax: 7000, buttons: 24, buttonTitle: 250,
			media: []message.MediaKind{message.Image}, noMedia: []message.MediaKind{message.Video, message.Audio, message.Document, message.Sticker}},
		{ch: message.Manual},
		{ch: ""},
		{ch: "Telegram"},
	}
	for _, tt := range tests {
		t.Run(string(tt.ch), func(t *testing.T) {
			c, ok := For(tt.ch)
			if ok != tt.ok {
				t.Fatalf("For(%q) ok = %v, want %v", tt.ch, ok, tt.ok)
			}
			if !ok {
				return
			}
			if c.Channel != tt.ch || c.TextMax != tt.textMax {
				t.Errorf("channel %q textMax %d, want %q %d", c.Channel, c.TextMax, tt.ch, tt.textMax)
			}
			if c.Buttons.Supported != (tt.buttons > 0) || c.Buttons.Max != tt.buttons || c.Buttons.TitleMax != tt.buttonTitle {
				t.Errorf("buttons = %+v, want max %d title %d", c.Buttons, tt.buttons, tt.buttonTitle)
			}
			if c.List.Supported != tt.list {
				t.Errorf("list supported = %v, want %v", c.List.Supported, tt.list)
			}
			if c.QuickReplies.Supported != (tt.quickReplies > 0) || c.QuickReplies.Max != tt.quickReplies {
				t.Errorf("quick replies = %+v, want %d", c.QuickReplies, tt.quickReplies)
			}
			if c.Templates != tt.templates {
				t.Errorf("templates = %v, want %v", c.Templates, tt.templates)
			}
			if strings.Join(c.Tags, ",") != strings.Join(tt.tags, ",") {
				t.Errorf("tags = %v, want %v", c.Tags, tt.tags)
			}
			for _, k := range tt.media {
				if !c.SupportsMedia(k) {
					t.Errorf("media %s not supported", k)
				}
			}
			for _, k := range tt.noMedia {
				if c.SupportsMedia(k) {
					t.Errorf("media %s supported, want not", k)
				}
			}
		})
	}
}

func TestWhatsAppList(t *testing.T) {
	c, _ := For(message.WhatsApp)
	want := List{Supported: true, MaxRows: 10, MaxSections: 10, ButtonMax: 20, RowTitleMax: 24, RowDescriptionMax: 72, SectionTitleMax: 24, RowIDMax: 200}
	if c.List != want {
		t.Errorf("list = %+v, want %+v", c.List, want)
	}
	if c.QuickReplies.Supported {
		t.Error("WhatsApp has no quick replies")
	}
	if len(c.Tags) != 0 || c.SupportsTag("HUMAN_AGENT") {
		t.Error("WhatsApp has no message tags")
	}
}

func TestAllStableAndCopied(t *testing.T) {
	want := []message.Channel{message.WhatsApp, message.Messenger, message.Instagram, message.Viber}
	for i := 0; i < 2; i++ {
		got := Channels()
		if len(got) != len(want) {
			t.Fatalf("Channels() = %v", got)
		}
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("Channels()[%d] = %s, want %s", j, got[j], want[j])
			}
		}
	}
	// Mutating a returned row must not change the table.
	a := All()
	a[0].Media[0] = "changed"
	a[0].TextMax = 1
	if c, _ := For(message.WhatsApp); c.TextMax != 4096 || c.Media[0] != message.Image {
		t.Error("All() returned shared data")
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown()
	if md != Markdown() {
		t.Fatal("Markdown is not deterministic")
	}
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	if lines[0] != "| Feature | WhatsApp | Messenger | Instagram | Viber |" {
		t.Errorf("header = %q", lines[0])
	}
	if lines[1] != "|---|---|---|---|---|" {
		t.Errorf("separator = %q", lines[1])
	}
	for _, l := range lines {
		if strings.Count(l, "|") != 6 {
			t.Errorf("row %q does not have 5 cells", l)
		}
	}
	for _, want := range []string{
		"| Text length | ≤ 4096 | ≤ 1999 | ≤ 999 | ≤ 7000 |",
		"| WhatsApp templates | yes | no | no | no |",
		"| Message tags | no | HUMAN_AGENT | HUMAN_AGENT | no |",
		"no (use quick replies)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
