package capability

import (
	"strconv"
	"strings"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Markdown renders the matrix as a markdown table, one column per channel,
// for docs/channels.md. The output is deterministic.
func Markdown() string {
	all := All()
	var b strings.Builder
	b.WriteString("| Feature |")
	for _, c := range all {
		b.WriteString(" " + string(c.Channel) + " |")
	}
	b.WriteString("\n|---|")
	for range all {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(name string, cell func(Capabilities) string) {
		b.WriteString("| " + name + " |")
		for _, c := range all {
			b.WriteString(" " + cell(c) + " |")
		}
		b.WriteString("\n")
	}
	row("Text length", func(c Capabilities) string { return "≤ " + strconv.Itoa(c.TextMax) })
	row("Reply buttons", func(c Capabilities) string {
		if !c.Buttons.Supported {
			return "no (use quick replies)"
		}
		s := c.Buttons.Form + ": ≤ " + strconv.Itoa(c.Buttons.Max) + ", titles ≤ " + strconv.Itoa(c.Buttons.TitleMax)
		if c.Buttons.UniqueTitles {
			s += ", unique"
		}
		if c.Buttons.TextMax > 0 {
			s += "; text ≤ " + strconv.Itoa(c.Buttons.TextMax)
		}
		return s
	})
	row("List message", func(c Capabilities) string {
		if !c.List.Supported {
			return "no"
		}
		l := c.List
		return "≤ " + strconv.Itoa(l.MaxRows) + " rows in ≤ " + strconv.Itoa(l.MaxSections) + " sections; button ≤ " +
			strconv.Itoa(l.ButtonMax) + ", row title ≤ " + strconv.Itoa(l.RowTitleMax) + ", description ≤ " +
			strconv.Itoa(l.RowDescriptionMax) + ", section title ≤ " + strconv.Itoa(l.SectionTitleMax)
	})
	row("Quick replies", func(c Capabilities) string {
		if !c.QuickReplies.Supported {
			return "no"
		}
		return "≤ " + strconv.Itoa(c.QuickReplies.Max) + ", titles ≤ " + strconv.Itoa(c.QuickReplies.TitleMax)
	})
	row("Media", func(c Capabilities) string {
		kinds := make([]string, len(c.Media))
		for i, k := range c.Media {
			kinds[i] = string(k)
		}
		return strings.Join(kinds, ", ")
	})
	row("WhatsApp templates", func(c Capabilities) string { return yesNo(c.Templates) })
	row("Message tags", func(c Capabilities) string {
		if len(c.Tags) == 0 {
			return "no"
		}
		return strings.Join(c.Tags, ", ")
	})
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Channels lists the channels of the matrix in the order of All.
func Channels() []message.Channel {
	all := All()
	out := make([]message.Channel, len(all))
	for i, c := range all {
		out[i] = c.Channel
	}
	return out
}
